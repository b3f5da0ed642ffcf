package adalora

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/peft"
	"github.com/golora/golora/peft/lora"
)

// PeftType is adapter_config.json's peft_type for AdaLoRA.
const PeftType = "ADALORA"

// Config is PEFT's AdaLoraConfig: LoraConfig's fields (r itself is unused,
// as in PEFT: init_r is the starting rank) plus the schedule of the rank
// allocation.
type Config struct {
	lora.Config

	InitR         int     // starting rank of every adapted matrix (init_r, 12)
	TargetR       int     // average final rank (target_r, 8)
	Tinit         int     // steps of warm-up before any pruning (tinit, 0)
	Tfinal        int     // final steps with the allocation fixed (tfinal, 0)
	DeltaT        int     // steps between two allocations (deltaT, 1)
	Beta1         float64 // EMA of the sensitivity (beta1, 0.85)
	Beta2         float64 // EMA of the uncertainty (beta2, 0.85)
	OrthRegWeight float64 // weight of the orthogonal regulariser (orth_reg_weight, 0.5)
	TotalStep     int     // total optimizer steps, required (total_step)
	// RankPattern is the allocation: per "<module path>.lora_E", which of
	// the init_r singular values are kept. nil until the allocator masks
	// (PEFT: None).
	RankPattern map[string][]bool
}

// DefaultConfig returns AdaLoraConfig's defaults; TotalStep (required) and
// the target modules must still be set.
func DefaultConfig() Config {
	c := Config{Config: lora.DefaultConfig(), InitR: 12, TargetR: 8, DeltaT: 1, Beta1: 0.85, Beta2: 0.85, OrthRegWeight: 0.5}
	c.PeftType = PeftType
	return c
}

// loraPart is the inherited LoraConfig as peft/lora validates it.
func (c *Config) loraPart() lora.Config {
	l := c.Config
	l.PeftType = "LORA"
	l.RankPattern = map[string]int{}
	return l
}

// Validate checks the fields as AdaLoraConfig.__post_init__ and the
// RankAllocator do, with errors naming them.
func (c *Config) Validate() error {
	if c.PeftType != "" && c.PeftType != PeftType {
		return fmt.Errorf("adalora: peft_type %q is not %s", c.PeftType, PeftType)
	}
	if c.UseDoRA {
		return fmt.Errorf("adalora: ADALORA does not support DoRA (use_dora)")
	}
	if len(c.LayersToTransform) > 0 && c.TargetModules.IsRegex {
		return fmt.Errorf("adalora: layers_to_transform cannot be used when target_modules is a str")
	}
	l := c.loraPart()
	if err := l.Validate(); err != nil {
		return fmt.Errorf("adalora: %s", strings.TrimPrefix(err.Error(), "lora: "))
	}
	switch {
	case c.InitR <= 0:
		return fmt.Errorf("adalora: init_r must be positive, got %d", c.InitR)
	case c.InitR > lora.MaxRank:
		return fmt.Errorf("adalora: init_r %d is out of range: want 1 to %d (lora.MaxRank)", c.InitR, lora.MaxRank)
	case c.TargetR <= 0 || c.TargetR > c.InitR:
		return fmt.Errorf("adalora: target_r must be in [1, init_r = %d], got %d", c.InitR, c.TargetR)
	case c.TotalStep <= 0:
		return fmt.Errorf("adalora: AdaLoRA does not work when total_step is None, supply a value > 0")
	case c.Tinit < 0 || c.Tfinal < 0:
		return fmt.Errorf("adalora: tinit and tfinal must be >= 0, got %d and %d", c.Tinit, c.Tfinal)
	case c.Tinit >= c.TotalStep-c.Tfinal:
		return fmt.Errorf("adalora: the schedule (tinit %d, tfinal %d, total_step %d) leaves no budgeting phase; decrease tfinal/tinit or increase total_step", c.Tinit, c.Tfinal, c.TotalStep)
	case c.DeltaT <= 0:
		return fmt.Errorf("adalora: deltaT must be positive, got %d", c.DeltaT)
	case !(c.Beta1 > 0 && c.Beta1 < 1) || !(c.Beta2 > 0 && c.Beta2 < 1):
		return fmt.Errorf("adalora: beta1 and beta2 must be in (0, 1), got %v and %v", c.Beta1, c.Beta2)
	case !(c.OrthRegWeight >= 0) || math.IsInf(c.OrthRegWeight, 0):
		return fmt.Errorf("adalora: orth_reg_weight must be a finite value >= 0, got %v", c.OrthRegWeight)
	}
	for k, mask := range c.RankPattern {
		if len(mask) != c.InitR {
			return fmt.Errorf("adalora: rank_pattern[%q] has %d entries, init_r is %d", k, len(mask), c.InitR)
		}
	}
	return nil
}

// Scaling is PEFT's self.scaling: lora_alpha, or the rank when alpha <= 0.
func (c *Config) Scaling() float64 {
	if c.LoraAlpha > 0 {
		return c.LoraAlpha
	}
	return float64(c.InitR)
}

// pyFloat writes a float field as Python's json does (always a point).
type pyFloat float64

func (f pyFloat) MarshalJSON() ([]byte, error) {
	s := strconv.FormatFloat(float64(f), 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return []byte(s), nil
}

// adaloraKeys are the fields AdaLoraConfig adds to LoraConfig.
var adaloraKeys = []string{"init_r", "target_r", "tinit", "tfinal", "deltaT", "beta1", "beta2", "orth_reg_weight", "total_step", "rank_pattern"}

// MarshalConfig renders c as PEFT's save_pretrained writes an
// AdaLoraConfig: every LoraConfig field plus AdaLoRA's, keys sorted,
// two-space indent, no trailing newline, peft_type "ADALORA".
func MarshalConfig(c *Config) ([]byte, error) {
	l := c.loraPart()
	base, err := lora.MarshalConfig(&l)
	if err != nil {
		return nil, err
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(base, &out); err != nil {
		return nil, err
	}
	set := func(k string, v any) error {
		b, err := json.Marshal(v)
		out[k] = b
		return err
	}
	var rp any // null until the allocator has masked
	if c.RankPattern != nil {
		rp = c.RankPattern
	}
	for k, v := range map[string]any{
		"peft_type": PeftType, "init_r": c.InitR, "target_r": c.TargetR, "tinit": c.Tinit, "tfinal": c.Tfinal,
		"deltaT": c.DeltaT, "beta1": pyFloat(c.Beta1), "beta2": pyFloat(c.Beta2),
		"orth_reg_weight": pyFloat(c.OrthRegWeight), "total_step": c.TotalStep, "rank_pattern": rp,
	} {
		if err := set(k, v); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// ParseConfig reads AdaLoRA adapter_config.json bytes. Unknown fields are
// kept (in the embedded LoraConfig's Extra) and written back by
// MarshalConfig.
func ParseConfig(data []byte) (Config, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return Config{}, err
	}
	c := DefaultConfig()
	var pt string
	if raw, ok := all["peft_type"]; ok {
		if err := json.Unmarshal(raw, &pt); err != nil {
			return Config{}, fmt.Errorf("peft_type: %w", err)
		}
	}
	if pt != PeftType {
		return Config{}, fmt.Errorf("peft_type is %q, not %s", pt, PeftType)
	}
	var total *int
	fields := map[string]any{"init_r": &c.InitR, "target_r": &c.TargetR, "tinit": &c.Tinit, "tfinal": &c.Tfinal,
		"deltaT": &c.DeltaT, "beta1": &c.Beta1, "beta2": &c.Beta2, "orth_reg_weight": &c.OrthRegWeight,
		"total_step": &total, "rank_pattern": &c.RankPattern}
	for _, k := range adaloraKeys {
		raw, ok := all[k]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, fields[k]); err != nil {
			return Config{}, fmt.Errorf("%s: %w", k, err)
		}
		delete(all, k)
	}
	if total != nil {
		c.TotalStep = *total
	}
	all["peft_type"] = json.RawMessage(`"LORA"`)
	rest, err := json.Marshal(all)
	if err != nil {
		return Config{}, err
	}
	l, err := lora.ParseConfig(rest)
	if err != nil {
		return Config{}, err
	}
	c.Config = l
	c.PeftType = PeftType
	c.RankPattern = normalisePattern(c.RankPattern)
	return c, nil
}

// normalisePattern strips the adapter name PEFT leaves in rank_pattern keys
// of an adapter that was never saved ("….lora_E.default").
func normalisePattern(rp map[string][]bool) map[string][]bool {
	if rp == nil {
		return nil
	}
	out := make(map[string][]bool, len(rp))
	for k, v := range rp {
		out[strings.TrimSuffix(k, "."+peft.DefaultAdapter)] = v
	}
	return out
}

// IsAdaLoRA reports whether the adapter in dir is an AdaLoRA adapter (its
// adapter_config.json says peft_type "ADALORA").
func IsAdaLoRA(dir string) bool {
	b, err := sizecheck.ReadFile(filepath.Join(dir, peft.ConfigName), sizecheck.MaxConfigFile)
	if err != nil {
		return false
	}
	var v struct {
		PeftType string `json:"peft_type"`
	}
	return json.Unmarshal(b, &v) == nil && v.PeftType == PeftType
}

// ReadConfig reads an adapter directory's adapter_config.json.
func ReadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, peft.ConfigName)
	data, err := sizecheck.ReadFile(path, sizecheck.MaxConfigFile)
	if err != nil {
		return Config{}, fmt.Errorf("adalora: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("adalora: %s: %w", path, err)
	}
	return c, nil
}
