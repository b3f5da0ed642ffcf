package lora

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// FormatVersion is the PEFT release whose adapter_config.json field set
// golora writes (written as peft_version).
const FormatVersion = "0.20.0"

// pyFloat is a float written as Python's json writes it: integral values
// of int-typed fields as ints, float fields always with a decimal point.
type pyFloat struct {
	v       float64
	isFloat bool
}

func (f pyFloat) MarshalJSON() ([]byte, error) {
	if !f.isFloat && f.v == float64(int64(f.v)) {
		return []byte(strconv.FormatInt(int64(f.v), 10)), nil
	}
	s := strconv.FormatFloat(f.v, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return []byte(s), nil
}

// peftDefaults are the LoraConfig fields of PEFT 0.20 that golora does not
// model, with PEFT's defaults (PEFT-REFERENCE.md §1b).
func peftDefaults() map[string]any {
	return map[string]any{
		"alora_invocation_tokens": nil, "arrow_config": nil, "corda_config": nil,
		"ensure_weight_tying": false, "eva_config": nil, "kasa_config": nil,
		"layer_replication": nil, "loftq_config": map[string]any{}, "lora_ga_config": nil,
		"megatron_config": nil, "megatron_core": "megatron.core", "monteclora_config": nil,
		"qalora_group_size": 16, "target_parameters": nil, "trainable_token_indices": nil,
		"use_bdlora": nil, "use_qalora": false, "velora_config": nil,
	}
}

// MarshalConfig renders c as PEFT's save_pretrained does: every LoraConfig
// field, keys sorted, two-space indent, inference_mode true. Unknown fields
// read from a file (Extra) are written back unchanged.
func MarshalConfig(c *Config) ([]byte, error) {
	out := peftDefaults()
	for k, v := range c.Extra {
		out[k] = v
	}
	ptr := func(s *string) any {
		if s == nil {
			return nil
		}
		return *s
	}
	var layers any
	if c.LayersToTransform != nil {
		layers = []int(c.LayersToTransform)
	}
	var pattern any
	if len(c.LayersPattern) == 1 {
		pattern = c.LayersPattern[0]
	} else if c.LayersPattern != nil {
		pattern = []string(c.LayersPattern)
	}
	var mts any
	if c.ModulesToSave != nil {
		mts = c.ModulesToSave
	}
	alphaPat := map[string]any{}
	for k, v := range c.AlphaPattern {
		alphaPat[k] = pyFloat{v: v}
	}
	rankPat := map[string]int{}
	for k, v := range c.RankPattern {
		rankPat[k] = v
	}
	bias := c.Bias
	if bias == "" {
		bias = "none"
	}
	for k, v := range map[string]any{
		"peft_type": "LORA", "peft_version": FormatVersion,
		"task_type": ptr(c.TaskType), "base_model_name_or_path": ptr(c.BaseModelNameOrPath),
		"revision": ptr(c.Revision), "inference_mode": true,
		"r": c.R, "lora_alpha": pyFloat{v: c.LoraAlpha}, "lora_dropout": pyFloat{v: c.LoraDropout, isFloat: true},
		"target_modules": c.TargetModules, "exclude_modules": c.ExcludeModules,
		"modules_to_save": mts, "bias": bias, "use_rslora": c.UseRSLoRA, "use_dora": c.UseDoRA,
		"init_lora_weights": c.InitLoraWeights, "layers_to_transform": layers, "layers_pattern": pattern,
		"rank_pattern": rankPat, "alpha_pattern": alphaPat, "fan_in_fan_out": c.FanInFanOut,
		"lora_bias": c.LoraBias,
	} {
		out[k] = v
	}
	if c.TaskType == nil && c.AutoMapping != nil {
		out["auto_mapping"] = c.AutoMapping
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

// ParseConfig reads adapter_config.json bytes. Unknown fields are kept in
// Extra (newer PEFT versions add fields; we must not refuse them). Keys
// match exactly, as in Python: "R" is an unknown field, not r (Go's json
// alone would match it case-insensitively).
func ParseConfig(data []byte) (Config, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return Config{}, err
	}
	if all == nil {
		return Config{}, fmt.Errorf("the top level is not a JSON object")
	}
	known := map[string]json.RawMessage{}
	for _, k := range []string{"peft_type", "task_type", "base_model_name_or_path", "inference_mode", "r",
		"lora_alpha", "lora_dropout", "target_modules", "exclude_modules", "modules_to_save", "bias",
		"use_rslora", "use_dora", "init_lora_weights", "layers_to_transform", "layers_pattern",
		"rank_pattern", "alpha_pattern", "fan_in_fan_out", "lora_bias", "auto_mapping", "revision", "peft_version"} {
		if v, ok := all[k]; ok {
			known[k] = v
			delete(all, k)
		}
	}
	b, err := json.Marshal(known)
	if err != nil {
		return Config{}, err
	}
	c := DefaultConfig()
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, err
	}
	if len(all) > 0 {
		c.Extra = all
	}
	if c.RankPattern == nil {
		c.RankPattern = map[string]int{}
	}
	if c.AlphaPattern == nil {
		c.AlphaPattern = map[string]float64{}
	}
	return c, nil
}

// ReadConfig reads an adapter directory's adapter_config.json.
func ReadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, peft.ConfigName)
	data, err := sizecheck.ReadFile(path, sizecheck.MaxConfigFile)
	if err != nil {
		return Config{}, fmt.Errorf("lora: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("lora: %s: %w", path, err)
	}
	if c.PeftType != "LORA" {
		return Config{}, fmt.Errorf("lora: %s: peft_type is %q, not LORA", path, c.PeftType)
	}
	return c, nil
}

// StateDict returns adapter name's tensors under PEFT's stored keys:
// lora_A/lora_B of every adapted layer (and DoRA's lora_magnitude_vector),
// modules_to_save copies, and the biases cfg.Bias trains.
func (m *Model) StateDict(name string) (map[string]*tensor.Tensor, error) {
	cfg, ok := m.configs[name]
	if !ok {
		return nil, fmt.Errorf("lora: no adapter named %q", name)
	}
	sd := map[string]*tensor.Tensor{}
	for _, l := range m.layers {
		if a, ok := l.adapters[name]; ok {
			sd[peft.StateKey(l.Name()+".lora_A.weight")] = a.A.Value
			sd[peft.StateKey(l.Name()+".lora_B.weight")] = a.B.Value
			if a.M != nil { // PEFT drops ".weight" here for compatibility
				sd[peft.StateKey(l.Name()+".lora_magnitude_vector")] = a.M.Value
			}
		}
	}
	inSaved := map[*nn.Param]bool{}
	for _, sm := range m.saved {
		for i, p := range sm.params {
			inSaved[p] = true
			if vals, ok := sm.copies[name]; ok {
				sd[peft.StateKey(p.Name)] = vals[i]
			}
		}
	}
	if cfg.Bias != "none" {
		wrapped := map[*nn.Param]string{}
		for _, l := range m.layers {
			if l.Base.Bias != nil {
				wrapped[l.Base.Bias] = l.Name()
			}
		}
		saveActive := m.active
		m.active = name
		biases := m.trainableBiases(cfg)
		m.active = saveActive
		for _, b := range biases {
			if inSaved[b] {
				continue
			}
			if ln, ok := wrapped[b]; ok { // PEFT's key for a wrapped layer's bias
				sd[peft.StateKey(ln+".base_layer.bias")] = b.Value
			} else {
				sd[peft.StateKey(b.Name)] = b.Value
			}
		}
	}
	return sd, nil
}

// Save writes every adapter as PEFT's save_pretrained does: "default" in
// dir, any other adapter in dir/<name>.
func (m *Model) Save(dir string) error {
	for _, n := range m.Adapters() {
		if err := m.SaveAdapter(peft.AdapterDir(dir, n), n); err != nil {
			return err
		}
	}
	return nil
}

// SaveAdapter writes adapter name into dir (exactly there, no sub-directory):
// adapter_config.json and adapter_model.safetensors (F32, metadata
// {"format":"pt"}), each atomically.
func (m *Model) SaveAdapter(dir, name string) error {
	sd, err := m.StateDict(name)
	if err != nil {
		return err
	}
	return writeAdapter(dir, name, m.configs[name], sd)
}

// writeAdapter writes cfg and sd as a PEFT adapter directory.
func writeAdapter(dir, name string, cfg *Config, sd map[string]*tensor.Tensor) error {
	f32 := make(map[string]*tensor.Tensor, len(sd))
	for k, t := range sd {
		if t.DType() != tensor.F32 {
			t = t.To(tensor.F32)
		}
		f32[k] = t
	}
	cfgJSON, err := MarshalConfig(cfg)
	if err != nil {
		return fmt.Errorf("lora: encoding config of adapter %q: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lora: %w", err)
	}
	if err := safetensors.Save(filepath.Join(dir, peft.WeightsName), f32, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("lora: saving adapter %q: %w", name, err)
	}
	err = atomicfile.WriteFile(filepath.Join(dir, peft.ConfigName), func(w io.Writer) error {
		_, err := w.Write(cfgJSON)
		return err
	}, 0o644)
	if err != nil {
		return fmt.Errorf("lora: saving adapter %q: %w", name, err)
	}
	return nil
}

// Load reads the PEFT adapter in dir onto base as adapter "default" (PEFT's
// PeftModel.from_pretrained).
func Load(base nn.Module, dir string) (*Model, error) {
	m := &Model{Base: base, configs: map[string]*Config{}}
	if err := m.LoadAdapter(dir, DefaultAdapterName); err != nil {
		return nil, err
	}
	return m, nil
}

// LoadAdapter reads the PEFT adapter in dir as adapter name and activates
// it. An adapter whose keys or shapes do not fit the base is refused with an
// error naming the key, and the model is left as it was.
func (m *Model) LoadAdapter(dir, name string) error {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return err
	}
	prevActive, prevDisabled := m.active, m.disabled
	path := filepath.Join(dir, peft.WeightsName)
	stored := int64(-1) // a missing file is reported after the config's misfits
	if st, err := os.Stat(path); err == nil {
		stored = st.Size()
	}
	if err := m.addAdapter(name, cfg, 0, stored); err != nil {
		return fmt.Errorf("lora: adapter %s does not fit the model: %w", dir, err)
	}
	f, err := safetensors.Load(path)
	if err == nil {
		err = m.fill(name, f, path)
	}
	if err != nil {
		_ = m.DeleteAdapter(name)
		m.active, m.disabled = prevActive, prevDisabled
		_ = m.apply()
		return fmt.Errorf("lora: %w", err)
	}
	return nil
}

// fill copies the file's tensors into adapter name.
func (m *Model) fill(name string, f *safetensors.File, path string) error {
	dst, err := m.StateDict(name)
	if err != nil {
		return err
	}
	// Accept the key PEFT versions differ on for a wrapped layer's bias.
	alias := map[string]string{}
	for k := range dst {
		if strings.HasSuffix(k, ".base_layer.bias") {
			alias[strings.TrimSuffix(k, ".base_layer.bias")+".bias"] = k
		}
	}
	seen := map[string]bool{}
	for _, key := range f.Names() {
		target := key
		if _, ok := dst[key]; !ok {
			if a, ok := alias[key]; ok {
				target = a
			}
		}
		d, ok := dst[target]
		if !ok {
			if _, hasPrefix := peft.ModuleName(key); !hasPrefix {
				return fmt.Errorf("lora: %s: key %q lacks PEFT's %q prefix", path, key, peft.KeyPrefix)
			}
			return fmt.Errorf("lora: %s: tensor %q has no place in the model with this adapter_config.json", path, key)
		}
		t, err := f.Tensor(key)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if !tensor.SameShape(t.Shape(), d.Shape()) {
			return fmt.Errorf("%s: tensor %q has shape %v, the model needs %v", path, key, t.Shape(), d.Shape())
		}
		if t.DType() != tensor.F32 {
			t = t.To(tensor.F32)
		}
		copy(d.F32(), t.F32())
		seen[target] = true
	}
	for k := range dst {
		if !seen[k] {
			return fmt.Errorf("%s: tensor %q is missing", path, k)
		}
	}
	return nil
}
