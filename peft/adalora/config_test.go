package adalora

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/peft"
	"github.com/golora/golora/peft/lora"
)

func validConfig() Config {
	c := DefaultConfig()
	c.TargetModules = lora.TargetList("query", "value")
	c.TotalStep = 100
	return c
}

// TestValidate: the checks of AdaLoraConfig.__post_init__ and the
// RankAllocator, each with an error naming the field.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"no total_step", func(c *Config) { c.TotalStep = 0 }, "total_step"},
		{"no budgeting phase", func(c *Config) { c.Tinit, c.Tfinal = 60, 40 }, "no budgeting phase"},
		{"target_r above init_r", func(c *Config) { c.TargetR = 13 }, "target_r"},
		{"init_r", func(c *Config) { c.InitR = 0 }, "init_r"},
		{"deltaT", func(c *Config) { c.DeltaT = 0 }, "deltaT"},
		{"beta1", func(c *Config) { c.Beta1 = 1 }, "beta1"},
		{"orth_reg_weight", func(c *Config) { c.OrthRegWeight = -1 }, "orth_reg_weight"},
		{"dora", func(c *Config) { c.UseDoRA = true }, "DoRA"},
		{"no targets", func(c *Config) { c.TargetModules = lora.Targets{} }, "target_modules"},
		{"pattern length", func(c *Config) { c.RankPattern = map[string][]bool{"x.lora_E": {true}} }, "rank_pattern"},
	} {
		c := validConfig()
		tc.edit(&c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}

// TestConfigRoundTrip: parsing PEFT's adapter_config.json and writing it
// again gives the same bytes, with and without a rank pattern, and unknown
// fields survive.
func TestConfigRoundTrip(t *testing.T) {
	for _, d := range []string{"adapter", "adapter-pruned"} {
		want, err := os.ReadFile(filepath.Join(testdata, "adalora", d, peft.ConfigName))
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseConfig(want)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		got, err := MarshalConfig(&c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: written config differs:\n%s", d, got)
		}
	}
	c, err := ParseConfig([]byte(`{"peft_type": "ADALORA", "total_step": 5, "target_modules": ["q"], "future_field": [1, 2]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.TotalStep != 5 || c.InitR != 12 || c.Beta1 != 0.85 {
		t.Errorf("defaults not applied: %+v", c)
	}
	out, _ := MarshalConfig(&c)
	if !bytes.Contains(out, []byte(`"future_field": [`)) || !bytes.Contains(out, []byte(`"rank_pattern": null`)) {
		t.Errorf("unknown field or null rank_pattern lost:\n%s", out)
	}
	if _, err := ParseConfig([]byte(`{"peft_type": "LORA"}`)); err == nil {
		t.Errorf("a LoRA config parsed as AdaLoRA")
	}
}
