package sizecheck

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIntFloat(t *testing.T) {
	if err := Int("hidden_size", 64, 1, 1<<16); err != nil {
		t.Error(err)
	}
	for _, v := range []int64{0, -1, 1<<16 + 1, math.MaxInt64} {
		err := Int("hidden_size", v, 1, 1<<16)
		if err == nil || !strings.Contains(err.Error(), "hidden_size") || !strings.Contains(err.Error(), "65,536") {
			t.Errorf("Int(%d) = %v", v, err)
		}
	}
	if err := Float("lr", 0.5, 0, 1); err != nil {
		t.Error(err)
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.1, 1.5} {
		if err := Float("lr", v, 0, 1); err == nil || !strings.Contains(err.Error(), "lr") {
			t.Errorf("Float(%v) = %v", v, err)
		}
	}
}

func TestMulAdd(t *testing.T) {
	for _, tc := range []struct {
		f    []int64
		want int64
	}{
		{nil, 1},
		{[]int64{3, 4, 5}, 60},
		{[]int64{1 << 31, 1 << 31}, 1 << 62},
		{[]int64{1 << 32, 1 << 32}, Saturated},
		{[]int64{1 << 62, 2}, Saturated},
		{[]int64{1 << 40, 1 << 40, 0}, 0}, // zero after an overflow
		{[]int64{-1, 5}, Saturated},
		{[]int64{1e18, 1e18}, Saturated},
	} {
		if got := Mul(tc.f...); got != tc.want {
			t.Errorf("Mul(%v) = %d, want %d", tc.f, got, tc.want)
		}
	}
	if got := Add(1, 2, 3); got != 6 {
		t.Errorf("Add = %d", got)
	}
	if got := Add(math.MaxInt64-1, 2); got != Saturated {
		t.Errorf("Add overflow = %d", got)
	}
	if got := Add(5, -1); got != Saturated {
		t.Errorf("Add negative = %d", got)
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 3 << 30: "3.0 GiB", Saturated: "more than 8 EiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for s, want := range map[string]int64{"2GiB": 2 << 30, "512MiB": 512 << 20, "1.5GB": 1.5e9, "100KB": 1e5, "4096": 4096, "1g": 1 << 30, " 3 MiB ": 3 << 20, "7B": 7, "7 B": 7, "3k": 3 << 10} {
		if got, err := ParseBytes(s); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0", "-1GiB", "lots", "NaN", "1e30", "GiB", "Inf", "2XB"} {
		if _, err := ParseBytes(s); err == nil {
			t.Errorf("ParseBytes(%q) accepted", s)
		}
	}
}

func TestAvailableOverride(t *testing.T) {
	t.Setenv(MemEnv, "1GiB")
	n, src, err := Available()
	if err != nil || n != 1<<30 || src != MemEnv {
		t.Fatalf("Available() = %d, %q, %v", n, src, err)
	}
	if err := Memory("the weights", 1<<30); err != nil {
		t.Error(err)
	}
	err = Memory("the weights (hidden_size 65536)", 1<<31)
	if err == nil || !strings.Contains(err.Error(), "hidden_size 65536") || !strings.Contains(err.Error(), "2.0 GiB") || !strings.Contains(err.Error(), "1.0 GiB") {
		t.Errorf("Memory over the limit: %v", err)
	}
	t.Setenv(MemEnv, "plenty")
	if err := Memory("x", 1); err == nil || !strings.Contains(err.Error(), MemEnv) {
		t.Errorf("bad %s accepted: %v", MemEnv, err)
	}
}

func TestAvailableMeasured(t *testing.T) {
	t.Setenv(MemEnv, "") // restored after the test
	os.Unsetenv(MemEnv)
	n, src, err := Available()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/meminfo"); err == nil && (src == "unknown" || n <= 0 || n == Saturated) {
		t.Errorf("Available() = %d from %q on a system with /proc/meminfo", n, src)
	}
	if err := Memory("a saturated count", Saturated); err == nil && src != "unknown" {
		t.Error("a saturated byte count fits in memory")
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "config.json")
	os.WriteFile(small, []byte(`{"a": 1}`), 0o644)
	if b, err := ReadFile(small, 100); err != nil || string(b) != `{"a": 1}` {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	big := filepath.Join(dir, "big.json")
	f, _ := os.Create(big)
	f.Truncate(1 << 40) // sparse: nothing is written
	f.Close()
	if _, err := ReadFile(big, MaxConfigFile); err == nil || !strings.Contains(err.Error(), big) || !strings.Contains(err.Error(), "1.0 TiB") {
		t.Errorf("ReadFile of a 1 TiB file: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "none"), 10); err == nil {
		t.Error("ReadFile of a missing file succeeded")
	}
	if err := FileHolds("the weights", 100, "model.safetensors", 99); err == nil || !strings.Contains(err.Error(), "model.safetensors") {
		t.Errorf("FileHolds: %v", err)
	}
}
