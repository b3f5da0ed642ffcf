// Package reftest reads the PyTorch reference files under testdata/ (see
// testdata/README.md) for the tests of the model packages.
package reftest

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// File is an expected.safetensors.
type File struct{ *safetensors.File }

// Open reads the reference file at path.
func Open(t testing.TB, path string) File {
	t.Helper()
	f, err := safetensors.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return File{f}
}

// Tensor returns tensor name as f32.
func (f File) Tensor(t testing.TB, name string) *tensor.Tensor {
	t.Helper()
	x, err := f.File.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x.To(tensor.F32)
}

// Ints returns the I64 tensor name as int32 values and its shape.
func (f File) Ints(t testing.TB, name string) ([]int32, []int) {
	t.Helper()
	raw, info, err := f.Raw(name)
	if err != nil || info.DType != "I64" {
		t.Fatalf("%s: %v (dtype %s, want I64)", name, err, info.DType)
	}
	out := make([]int32, info.Len())
	for i := range out {
		out[i] = int32(int64(binary.LittleEndian.Uint64(raw[8*i:])))
	}
	return out, info.Shape
}

// RelErr returns max|got − want| / max|want|: the error as a fraction of
// the tensor's scale (entries near zero by cancellation have absolute
// errors like everyone else's, so an elementwise ratio would mislead).
func RelErr(got, want []float32) (rel, scale float64) {
	var d float64
	for i := range want {
		d = max(d, math.Abs(float64(got[i])-float64(want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	return d / scale, scale
}

// Close fails t when got is not within tol of want (RelErr), and logs the
// error otherwise.
func Close(t testing.TB, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	if rel, scale := RelErr(got, want); !(rel <= tol) {
		t.Errorf("%s: relative error %.3g > %g (scale %.3g)", what, rel, tol, scale)
	} else {
		t.Logf("%s: relative error %.2g", what, rel)
	}
}

// MaxAbs is max|x|.
func MaxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// Grads compares the gradients of params (by name; prefix is stripped
// from the reference keys' "grad." names first) with every "grad.*"
// tensor of f, and returns how many it compared. zero reports gradients
// that are zero analytically (a key bias under softmax): they are checked
// to be negligible next to scale(name), not relatively.
func (f File) Grads(t testing.TB, params []*nn.Param, tol float64, zero func(name string) (bool, float64)) int {
	t.Helper()
	grads := map[string][]float32{}
	for _, p := range params {
		if p.Grad != nil {
			grads[p.Name] = p.Grad.F32()
		}
	}
	n := 0
	for _, key := range f.Names() {
		name, ok := strings.CutPrefix(key, "grad.")
		if !ok {
			continue
		}
		got, ok := grads[name]
		if !ok {
			t.Errorf("%s: no such trainable parameter in the Go model", name)
			continue
		}
		want := f.Tensor(t, key).F32()
		n++
		if zero != nil {
			if z, scale := zero(name); z {
				if g, w := MaxAbs(got), MaxAbs(want); g > 1e-5*scale || w > 1e-5*scale {
					t.Errorf("%s: max %g (PyTorch %g), want ~0 next to %g", name, g, w, scale)
				}
				continue
			}
		}
		Close(t, name, got, want, tol)
	}
	return n
}
