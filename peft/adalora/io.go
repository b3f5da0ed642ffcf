package adalora

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// StateDict returns the adapter's tensors under PEFT's stored keys:
// "base_model.model.<path>.lora_A" [k, in], ".lora_E" [k, 1] and ".lora_B"
// [out, k] (ParameterDicts: no ".weight"), and the modules_to_save copies.
// When a rank pattern exists, only the kept ranks are written (k of them,
// PEFT's resize_state_dict_by_rank_pattern); otherwise all of them.
func (m *Model) StateDict() (map[string]*tensor.Tensor, error) {
	sd := map[string]*tensor.Tensor{}
	for _, l := range m.layers {
		a, e, b := l.A.Value, l.E.Value, l.B.Value
		if mask, ok := m.cfg.RankPattern[patternKey(l)]; ok && countTrue(mask) != l.r {
			// As PEFT: cut only when the layer still holds the masked ranks.
			if len(mask) != l.r {
				return nil, fmt.Errorf("adalora: rank_pattern[%q] has %d entries, %s has rank %d", patternKey(l), len(mask), l.Name(), l.r)
			}
			a, e, b = keepRows(a, mask), keepRows(e, mask), keepCols(b, mask)
		}
		sd[peft.StateKey(l.Name()+".lora_A")] = a
		sd[peft.StateKey(l.Name()+".lora_E")] = e
		sd[peft.StateKey(l.Name()+".lora_B")] = b
	}
	for _, p := range m.saved {
		sd[peft.StateKey(p.Name)] = p.Value
	}
	return sd, nil
}

func countTrue(mask []bool) int {
	n := 0
	for _, b := range mask {
		if b {
			n++
		}
	}
	return n
}

// keepRows returns the rows of t [r, c] where mask is true.
func keepRows(t *tensor.Tensor, mask []bool) *tensor.Tensor {
	c := t.Dim(1)
	var vals []float32
	src := t.F32()
	for i, k := range mask {
		if k {
			vals = append(vals, src[i*c:(i+1)*c]...)
		}
	}
	return tensor.FromF32(append([]float32{}, vals...), len(vals)/max(c, 1), c)
}

// keepCols returns the columns of t [rows, r] where mask is true.
func keepCols(t *tensor.Tensor, mask []bool) *tensor.Tensor {
	rows, r := t.Dim(0), t.Dim(1)
	k := countTrue(mask)
	out := make([]float32, 0, rows*k)
	src := t.F32()
	for i := 0; i < rows; i++ {
		for j := 0; j < r; j++ {
			if mask[j] {
				out = append(out, src[i*r+j])
			}
		}
	}
	return tensor.FromF32(out, rows, k)
}

// Save writes the adapter as PEFT's save_pretrained does: adapter_config.json
// (with the rank pattern) and adapter_model.safetensors (F32, metadata
// {"format":"pt"}), each atomically.
func (m *Model) Save(dir string) error {
	sd, err := m.StateDict()
	if err != nil {
		return err
	}
	cfgJSON, err := MarshalConfig(&m.cfg)
	if err != nil {
		return fmt.Errorf("adalora: encoding config: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("adalora: %w", err)
	}
	if err := safetensors.Save(filepath.Join(dir, peft.WeightsName), sd, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("adalora: saving adapter: %w", err)
	}
	err = atomicfile.WriteFile(filepath.Join(dir, peft.ConfigName), func(w io.Writer) error {
		_, err := w.Write(cfgJSON)
		return err
	}, 0o644)
	if err != nil {
		return fmt.Errorf("adalora: saving adapter: %w", err)
	}
	return nil
}

// Load reads the PEFT AdaLoRA adapter in dir onto base for inference
// (PeftModel.from_pretrained): layers are created at init_r, cut to the
// kept ranks of rank_pattern with ranknum left at init_r (PEFT's
// resize_modules_by_rank_pattern), then filled; every parameter is frozen.
// An adapter whose keys or shapes do not fit is refused with an error
// naming the key.
func Load(base nn.Module, dir string) (*Model, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	rp := cfg.RankPattern
	cfg.RankPattern = nil
	// Without a rank pattern the file holds every rank, so it can bound
	// init_r; with one it holds only the kept ranks, and the pattern
	// itself (init_r entries per layer) is bounded by the config file.
	stored := int64(-1)
	if st, err := os.Stat(filepath.Join(dir, peft.WeightsName)); err == nil && rp == nil {
		stored = st.Size()
	}
	m, err := inject(base, cfg, 0, stored)
	if err != nil {
		return nil, fmt.Errorf("adalora: adapter %s does not fit the model: %w", dir, err)
	}
	fail := func(err error) (*Model, error) {
		m.Unload()
		return nil, err
	}
	if rp != nil {
		if err := m.resizeByPattern(rp); err != nil {
			return fail(fmt.Errorf("adalora: %s: %w", filepath.Join(dir, peft.ConfigName), err))
		}
		m.cfg.RankPattern = nil // the layers now hold only the kept ranks
	}
	path := filepath.Join(dir, peft.WeightsName)
	f, err := safetensors.Load(path)
	if err == nil {
		err = m.fill(f, path)
	}
	if err != nil {
		return fail(fmt.Errorf("adalora: %w", err))
	}
	m.cfg.RankPattern = rp // written back on save; the layers are already cut
	if err := m.setTrainable(false); err != nil {
		return nil, err
	}
	m.alloc = newRankAllocator(m)
	return m, nil
}

// resizeByPattern cuts every layer to the ranks its mask keeps.
func (m *Model) resizeByPattern(rp map[string][]bool) error {
	byName := map[string]*Linear{}
	for _, l := range m.layers {
		byName[l.Name()] = l
	}
	for k, mask := range rp {
		l, ok := byName[moduleOfKey(k)]
		if !ok {
			return fmt.Errorf("rank_pattern key %q names no adapted layer", k)
		}
		if len(mask) != l.r {
			return fmt.Errorf("rank_pattern[%q] has %d entries, the layer has rank %d", k, len(mask), l.r)
		}
		l.resize(countTrue(mask))
	}
	return m.setTrainable(true)
}

// fill copies the file's tensors into the model.
func (m *Model) fill(f *safetensors.File, path string) error {
	dst := map[string]*tensor.Tensor{}
	for _, l := range m.layers {
		dst[peft.StateKey(l.Name()+".lora_A")] = l.A.Value
		dst[peft.StateKey(l.Name()+".lora_E")] = l.E.Value
		dst[peft.StateKey(l.Name()+".lora_B")] = l.B.Value
	}
	for _, p := range m.saved {
		dst[peft.StateKey(p.Name)] = p.Value
	}
	seen := map[string]bool{}
	for _, key := range f.Names() {
		d, ok := dst[key]
		if !ok {
			if _, hasPrefix := peft.ModuleName(key); !hasPrefix {
				return fmt.Errorf("%s: key %q lacks PEFT's %q prefix", path, key, peft.KeyPrefix)
			}
			return fmt.Errorf("%s: tensor %q has no place in the model with this adapter_config.json", path, key)
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
		seen[key] = true
	}
	for k := range dst {
		if !seen[k] {
			return fmt.Errorf("%s: tensor %q is missing", path, k)
		}
	}
	return nil
}
