package lora

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/internal/badinput"
	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/peft"
)

// TestAbsurdRanks: ranks past MaxRank are refused by Validate, ranks within
// it by bytes, against the adapter file when loading and against memory
// when injecting; nothing in proportion to r is allocated first.
func TestAbsurdRanks(t *testing.T) {
	t.Setenv(sizecheck.MemEnv, "256MiB")
	base := newToy(1, 1024, 3, 1) // a refused adapter leaves it as it was
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"r 1e9", func(c *Config) { c.R = 1e9 }, "r 1000000000 is out of range"},
		{"rank_pattern 1e9", func(c *Config) { c.RankPattern = map[string]int{"query": 1e9} }, `rank_pattern["query"] 1000000000`},
		{"rank_pattern -1", func(c *Config) { c.RankPattern = map[string]int{"query": -1} }, `rank_pattern["query"]`},
		{"alpha_pattern 0", func(c *Config) { c.AlphaPattern = map[string]float64{"value": 0} }, `alpha_pattern["value"]`},
		{"lora_alpha inf", func(c *Config) { c.LoraAlpha = math.Inf(1) }, "lora_alpha"},
		// Within MaxRank, but 65536 × 2 × 1024 values × 8 bytes = 1 GiB.
		{"r max on wide layers", func(c *Config) { c.R = MaxRank }, "r 65536 on model.encoder.layer.0.attention.query (in 1024, out 1024)"},
	} {
		var err error
		if n := badinput.Allocated(func() { _, err = Inject(base, cfgWith(tc.edit), 1) }); n > 16<<20 {
			t.Errorf("%s: allocated %d bytes", tc.name, n)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", tc.name, err, tc.want)
		}
	}
}

// TestLoadChecksAdapterFile refuses an adapter_config.json whose ranks need
// more bytes than adapter_model.safetensors holds, before allocating.
func TestLoadChecksAdapterFile(t *testing.T) {
	base := newToy(2, 64, 3, 1)
	m, err := Inject(base, cfgWith(nil), 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []string{
		`{"peft_type":"LORA","r":65536,"lora_alpha":4,"target_modules":["query","value"]}`,
		`{"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["query","value"],"rank_pattern":{"layer.1.attention.value":60000}}`,
	} {
		os.WriteFile(filepath.Join(dir, peft.ConfigName), []byte(cfg), 0o644)
		fresh := newToy(2, 64, 3, 1)
		var err error
		if n := badinput.Allocated(func() { _, err = Load(fresh, dir) }); n > 16<<20 {
			t.Errorf("%s: allocated %d bytes", cfg, n)
		}
		if err == nil || !strings.Contains(err.Error(), peft.WeightsName+" has only") {
			t.Errorf("%s: %v", cfg, err)
		}
	}
	os.WriteFile(filepath.Join(dir, peft.ConfigName), []byte(`{"peft_type":"LORA","r":1000000000,"lora_alpha":4,"target_modules":["query"]}`), 0o644)
	if _, err := Load(newToy(2, 64, 3, 1), dir); err == nil || !strings.Contains(err.Error(), "r 1000000000") {
		t.Errorf("r 1e9: %v", err)
	}
}
