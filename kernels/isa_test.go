package kernels

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// usePath switches the kernel path for the rest of a test (and back).
func usePath(t testing.TB, p isa) {
	t.Helper()
	prev, err := SetKernelPath(p.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { SetKernelPath(prev) })
}

// paths lists the kernel paths this CPU and build can run.
func paths() []isa {
	var out []isa
	for _, p := range KernelPaths() {
		i, _ := parseISA(p)
		out = append(out, i)
	}
	return out
}

func TestKernelPaths(t *testing.T) {
	ps := KernelPaths()
	if len(ps) == 0 || ps[len(ps)-1] != PathGo {
		t.Fatalf("KernelPaths() = %v, want a list ending in go", ps)
	}
	if haveZMM && !haveYMM {
		t.Error("AVX-512 without AVX2 cannot happen")
	}
	want := []string{PathGo}
	if haveYMM {
		want = append([]string{PathYMM}, want...)
	}
	if haveZMM {
		want = append([]string{PathZMM}, want...)
	}
	if !slices.Equal(ps, want) {
		t.Errorf("KernelPaths() = %v, want %v", ps, want)
	}
	t.Logf("kernel paths here: %v (active %s)", ps, KernelPath())
}

func TestSetKernelPath(t *testing.T) {
	start := KernelPath()
	defer SetKernelPath(start)
	for _, p := range KernelPaths() {
		if _, err := SetKernelPath(strings.ToUpper(p)); err != nil {
			t.Fatalf("SetKernelPath(%q): %v", p, err)
		}
		if got := KernelPath(); got != p {
			t.Errorf("after SetKernelPath(%q), KernelPath() = %q", p, got)
		}
	}
	prev, err := SetKernelPath("")
	if err != nil || prev != PathGo || KernelPath() != KernelPaths()[0] {
		t.Errorf("SetKernelPath(\"\") = %q, %v; path now %q, want the fastest, %q", prev, err, KernelPath(), KernelPaths()[0])
	}
	before := KernelPath()
	for _, bad := range []string{"avx9", "sse"} {
		if _, err := SetKernelPath(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("SetKernelPath(%q): err = %v, want one naming it", bad, err)
		}
	}
	for _, p := range []string{PathZMM, PathYMM} {
		i, _ := parseISA(p)
		if i.supported() {
			continue
		}
		if _, err := SetKernelPath(p); err == nil || !strings.Contains(err.Error(), "lacks") {
			t.Errorf("SetKernelPath(%q) on a CPU without it: err = %v", p, err)
		}
	}
	if KernelPath() != before {
		t.Errorf("a failed SetKernelPath changed the path to %s", KernelPath())
	}
}

// TestPathEnv runs this test binary again with GOLORA_KERNELS set and checks
// the path it starts on (the variable is read once, at start).
func TestPathEnv(t *testing.T) {
	if os.Getenv("GOLORA_KERNELS_CHILD") != "" {
		t.Logf("path=%s", KernelPath())
		return
	}
	for _, c := range []struct{ env, want, warn string }{
		{"go", PathGo, ""},
		{"YMM", PathYMM, ""},
		{"zmm", PathZMM, ""},
		{"avx9", KernelPaths()[0], "GOLORA_KERNELS=avx9 ignored: kernels: unknown kernel path"},
		{"", KernelPaths()[0], ""},
	} {
		want, warn := c.want, c.warn
		if i, _ := parseISA(want); !i.supported() {
			want, warn = KernelPaths()[0], "ignored"
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestPathEnv$", "-test.v")
		cmd.Env = append(os.Environ(), "GOLORA_KERNELS_CHILD=1", PathEnv+"="+c.env)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s=%s: %v\n%s", PathEnv, c.env, err, out)
		}
		if !strings.Contains(string(out), "path="+want+"\n") {
			t.Errorf("%s=%s: child output\n%s\nwant path=%s", PathEnv, c.env, out, want)
		}
		if hasWarn := strings.Contains(string(out), "golora: "+PathEnv); hasWarn != (warn != "") || warn != "" && !strings.Contains(string(out), warn) {
			t.Errorf("%s=%s: child output\n%s\nwant warning %q", PathEnv, c.env, out, warn)
		}
	}
}
