package models

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// WeightOptions adjust ReadWeights.
type WeightOptions struct {
	// Key maps a parameter name to its key in the file (nil: the same).
	Key func(param string) string
	// Skip reports parameters not to read (a fresh head); they keep their
	// values.
	Skip func(param string) bool
	// Ignore reports file keys that are no parameter but harmless (buffers
	// older transformers saved, such as rotary inv_freq or position_ids).
	Ignore func(key string) bool
	// Check, when set, judges a file key that is no parameter and not
	// ignored: nil accepts it (a tied weight saved twice), an error rejects
	// the file.
	Check func(key string, f *safetensors.File) error
	// BaseDType stores the weights of Linear layers in this dtype (0: F32)
	// except those of modules for which KeepF32 reports true (to be
	// trained; only f32 trains). Every other parameter is f32.
	BaseDType tensor.DType
	KeepF32   func(module string) bool
}

// ReadWeights fills every parameter of root from the safetensors file at
// path: each must be present with its exact shape, and no unknown tensor
// may be left over. F16 and BF16 values are widened to f32 (or kept in
// bf16 for frozen Linear weights with BaseDType BF16). Errors name the file
// and the key.
func ReadWeights(path string, root nn.Module, o WeightOptions) error {
	if o.BaseDType == 0 {
		o.BaseDType = tensor.F32
	}
	if o.BaseDType != tensor.F32 && o.BaseDType != tensor.BF16 {
		return fmt.Errorf("base dtype %v is not supported (want F32 or BF16)", o.BaseDType)
	}
	f, err := safetensors.Load(path)
	if err != nil {
		return err
	}
	linear := map[*nn.Param]string{}
	_ = nn.Walk(root, func(x nn.Module) error {
		if l, ok := x.(*nn.Linear); ok {
			linear[l.Weight] = l.Name()
		}
		return nil
	})
	used := map[string]bool{}
	for _, p := range nn.AllParams(root) {
		key := p.Name
		if o.Key != nil {
			key = o.Key(key)
		}
		if o.Skip != nil && o.Skip(p.Name) {
			used[key] = true
			continue
		}
		info, ok := f.Info(key)
		if !ok {
			if old, legacy := legacyKey(key); legacy {
				if info, ok = f.Info(old); ok {
					key = old
				}
			}
		}
		if !ok {
			return fmt.Errorf("%s: missing tensor %q", path, key)
		}
		if !tensor.SameShape(info.Shape, p.Value.Shape()) {
			return fmt.Errorf("%s: tensor %q has shape %v, want %v", path, key, info.Shape, p.Value.Shape())
		}
		t, err := f.Tensor(key)
		if err != nil {
			return err
		}
		want := tensor.F32
		if mod, ok := linear[p]; ok && (o.KeepF32 == nil || !o.KeepF32(mod)) {
			want = o.BaseDType
		}
		if t.DType() != want {
			t = t.To(want)
		}
		p.Value = t
		used[key] = true
	}
	for _, key := range f.Names() {
		if used[key] || (o.Ignore != nil && o.Ignore(key)) {
			continue
		}
		if o.Check != nil {
			if err := o.Check(key, f); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			continue
		}
		return fmt.Errorf("%s: unexpected tensor %q (not a parameter of the model)", path, key)
	}
	return nil
}

// legacyKey is the name older checkpoints (TensorFlow ports such as
// bert-base-uncased) give a LayerNorm's weight or bias: gamma and beta,
// which transformers renames on loading.
func legacyKey(key string) (string, bool) {
	for _, r := range [...]struct{ now, old string }{{"LayerNorm.weight", "LayerNorm.gamma"}, {"LayerNorm.bias", "LayerNorm.beta"}} {
		if strings.HasSuffix(key, r.now) {
			return strings.TrimSuffix(key, r.now) + r.old, true
		}
	}
	return "", false
}

// SaveDir writes dir/config.json (config, as given) and
// dir/model.safetensors (every parameter of root under its name, metadata
// {"format": "pt"}), each replaced atomically. Parameters are written in
// the dtype they are stored in, or, with as = BF16, f32 ones rounded to
// bf16 (as save_pretrained writes a model whose torch_dtype is bfloat16);
// the model itself is not changed.
func SaveDir(dir string, root nn.Module, config []byte, as tensor.DType) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tensors := map[string]*tensor.Tensor{}
	for _, p := range nn.AllParams(root) {
		if _, dup := tensors[p.Name]; dup {
			return fmt.Errorf("two parameters named %q", p.Name)
		}
		t := p.Value
		if as == tensor.BF16 && t.DType() == tensor.F32 {
			t = t.To(tensor.BF16)
		}
		tensors[p.Name] = t
	}
	if err := safetensors.Save(filepath.Join(dir, WeightsFile), tensors, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ConfigFile), func(w io.Writer) error {
		_, err := w.Write(config)
		return err
	}, 0o644)
}
