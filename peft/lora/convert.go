package lora

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/golora/golora/peft"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// PiSSA and OLoRA train on a residual base W_res = W − s·B₀·A₀, so their
// adapter only makes sense on that residual. PEFT's
// save_pretrained(path_initial_model_for_weight_conversion=…) turns such
// an adapter into a plain LoRA for the ORIGINAL base:
//
//	W_res + s·B·A = W + s·(B·A − B₀·A₀) = W + s·[B | −B₀]·[A ; A₀]
//
// a rank-2r adapter with lora_alpha doubled (×√2 with rsLoRA), so the
// scaling stays s, rank_pattern and alpha_pattern doubled, and
// init_lora_weights true. SaveAdapterConverted writes exactly that.
//
// One deliberate difference: PEFT's subtract_mutated_init keeps only the
// lora_A and lora_B tensors and silently drops modules_to_save copies and
// trained biases from the converted file; golora keeps them, so the
// converted adapter computes what the trained model did (PEFT loads it
// the same way).

// SaveAdapterConverted writes adapter name, trained from a PiSSA or OLoRA
// initialisation, into dir as the equivalent plain LoRA adapter for the
// original, unmodified base (see above). The initial factors A₀, B₀ come
// from initialDir when it is set (PEFT's
// path_initial_model_for_weight_conversion: the adapter as saved right
// after initialisation, e.g. by SaveInitialAdapter or PEFT), otherwise from
// the copy golora kept when it initialised the adapter. initialDir is only
// read.
func (m *Model) SaveAdapterConverted(dir, name, initialDir string) error {
	cfg, ok := m.configs[name]
	if !ok {
		return fmt.Errorf("lora: no adapter named %q", name)
	}
	if cfg.UseDoRA {
		return fmt.Errorf("lora: adapter %q uses DoRA: the PiSSA/OLoRA conversion keeps only lora_A and lora_B and would lose the magnitude vector", name)
	}
	if cfg.UseRSLoRA && (len(cfg.RankPattern) > 0 || len(cfg.AlphaPattern) > 0) {
		return fmt.Errorf("lora: adapter %q: converting to LoRA is not supported with use_rslora and rank_pattern or alpha_pattern together (as in PEFT)", name)
	}
	initial, err := m.initialFactors(name, initialDir)
	if err != nil {
		return err
	}
	sd, err := m.StateDict(name)
	if err != nil {
		return err
	}
	for _, l := range m.layers {
		a, ok := l.adapters[name]
		if !ok {
			continue
		}
		ka, kb := peft.StateKey(l.Name()+".lora_A.weight"), peft.StateKey(l.Name()+".lora_B.weight")
		a0, b0 := initial[ka], initial[kb]
		sd[ka] = concatRows(a.A.Value, a0)
		sd[kb] = concatColsNeg(a.B.Value, b0)
	}
	c := *cfg
	c.InitLoraWeights = InitDefault
	c.R *= 2
	if c.UseRSLoRA {
		c.LoraAlpha *= math.Sqrt2
	} else {
		c.LoraAlpha *= 2
	}
	c.RankPattern = map[string]int{}
	for k, v := range cfg.RankPattern {
		c.RankPattern[k] = 2 * v
	}
	c.AlphaPattern = map[string]float64{}
	for k, v := range cfg.AlphaPattern {
		c.AlphaPattern[k] = 2 * v
	}
	return writeAdapter(dir, name, &c, sd)
}

// initialFactors returns A₀ and B₀ of every layer of adapter name, under
// the stored keys, from initialDir or from golora's copy.
func (m *Model) initialFactors(name, initialDir string) (map[string]*tensor.Tensor, error) {
	out := map[string]*tensor.Tensor{}
	if initialDir == "" {
		for _, l := range m.layers {
			a, ok := l.adapters[name]
			if !ok {
				continue
			}
			if a.initA == nil {
				return nil, fmt.Errorf("lora: adapter %q was initialised with init_lora_weights %q, which keeps the base weight: save it as it is (SaveAdapter), or name the initial adapter's directory", name, a.init)
			}
			out[peft.StateKey(l.Name()+".lora_A.weight")] = a.initA
			out[peft.StateKey(l.Name()+".lora_B.weight")] = a.initB
		}
		return out, nil
	}
	path := filepath.Join(initialDir, peft.WeightsName)
	f, err := safetensors.Load(path)
	if err != nil {
		return nil, fmt.Errorf("lora: initial adapter: %w", err)
	}
	for _, l := range m.layers {
		a, ok := l.adapters[name]
		if !ok {
			continue
		}
		for _, kv := range []struct {
			key  string
			want *tensor.Tensor
		}{{".lora_A.weight", a.A.Value}, {".lora_B.weight", a.B.Value}} {
			key := peft.StateKey(l.Name() + kv.key)
			t, err := f.Tensor(key)
			if err != nil {
				return nil, fmt.Errorf("lora: initial adapter %s: %w", path, err)
			}
			if !tensor.SameShape(t.Shape(), kv.want.Shape()) {
				return nil, fmt.Errorf("lora: initial adapter %s: tensor %q has shape %v, the adapter has %v", path, key, t.Shape(), kv.want.Shape())
			}
			out[key] = t.To(tensor.F32)
		}
	}
	return out, nil
}

// SaveInitialAdapter writes adapter name as it was right after its PiSSA or
// OLoRA initialisation (the initial factors, modules_to_save at their
// original values), with its configuration: what a PEFT user saves before
// training and later passes as path_initial_model_for_weight_conversion.
func (m *Model) SaveInitialAdapter(dir, name string) error {
	cfg, ok := m.configs[name]
	if !ok {
		return fmt.Errorf("lora: no adapter named %q", name)
	}
	initial, err := m.initialFactors(name, "")
	if err != nil {
		return err
	}
	sd, err := m.StateDict(name)
	if err != nil {
		return err
	}
	for _, sm := range m.saved {
		if _, ok := sm.copies[name]; ok {
			for i, p := range sm.params {
				sd[peft.StateKey(p.Name)] = sm.original[i]
			}
		}
	}
	for k, v := range initial {
		sd[k] = v
	}
	for k := range sd {
		if strings.HasSuffix(k, ".lora_magnitude_vector") {
			return fmt.Errorf("lora: adapter %q uses DoRA, whose initial magnitude golora does not keep", name)
		}
	}
	return writeAdapter(dir, name, cfg, sd)
}

// concatRows returns [a ; b] for a [r, in] and b [r', in].
func concatRows(a, b *tensor.Tensor) *tensor.Tensor {
	v := append(append([]float32{}, a.F32()...), b.F32()...)
	return tensor.FromF32(v, a.Dim(0)+b.Dim(0), a.Dim(1))
}

// concatColsNeg returns [a | −b] for a [out, r] and b [out, r'].
func concatColsNeg(a, b *tensor.Tensor) *tensor.Tensor {
	rows, ra, rb := a.Dim(0), a.Dim(1), b.Dim(1)
	v := make([]float32, 0, rows*(ra+rb))
	av, bv := a.F32(), b.F32()
	for i := 0; i < rows; i++ {
		v = append(v, av[i*ra:(i+1)*ra]...)
		for _, x := range bv[i*rb : (i+1)*rb] {
			v = append(v, -x)
		}
	}
	return tensor.FromF32(v, rows, ra+rb)
}
