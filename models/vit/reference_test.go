package vit

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

var tinyDir = filepath.Join("..", "..", "testdata", "vit-tiny")

// reference holds testdata/vit-tiny/expected.safetensors.
type reference struct {
	pixels *tensor.Tensor
	labels []int32
	f      *safetensors.File
}

func loadReference(t *testing.T) reference {
	t.Helper()
	f, err := safetensors.Load(filepath.Join(tinyDir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	pix, err := f.Tensor("pixel_values")
	if err != nil {
		t.Fatal(err)
	}
	raw, info, err := f.Raw("labels")
	if err != nil || info.DType != "I64" {
		t.Fatalf("labels: %v (dtype %s)", err, info.DType)
	}
	labels := make([]int32, info.Len())
	for i := range labels {
		labels[i] = int32(int64(binary.LittleEndian.Uint64(raw[8*i:])))
	}
	return reference{pixels: pix, labels: labels, f: f}
}

func (r reference) tensor(t *testing.T, name string) *tensor.Tensor {
	t.Helper()
	x, err := r.f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// relErr returns max|got − want| / max|want|: the error as a fraction of
// the tensor's scale. Elementwise relative error would be dominated by
// entries that are near zero through cancellation, whose absolute error is
// as small as everyone else's.
func relErr(got, want []float32) (rel, scale float64) {
	var d float64
	for i := range want {
		d = max(d, math.Abs(float64(got[i])-float64(want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	return d / scale, scale
}

func loadTiny(t *testing.T, opts LoadOptions) *Model {
	t.Helper()
	m, err := Load(tinyDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMatchesPyTorch runs the tiny ViT with every parameter trainable and
// compares logits, mean cross-entropy and all gradients with PyTorch's.
func TestMatchesPyTorch(t *testing.T) {
	ref := loadReference(t)
	m := loadTiny(t, LoadOptions{})
	for _, p := range nn.AllParams(m) {
		if err := p.SetTrainable(true); err != nil {
			t.Fatal(err)
		}
	}
	m.InputGrad = true
	logits := m.Forward(ref.pixels)
	if rel, _ := relErr(logits.F32(), ref.tensor(t, "logits").F32()); rel > 1e-4 {
		t.Errorf("logits: relative error %.3g > 1e-4", rel)
	} else {
		t.Logf("logits: relative error %.2g", rel)
	}
	var ce nn.CrossEntropyLoss
	loss, err := ce.Forward(logits, ref.labels)
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(ref.tensor(t, "loss").F32()[0]); math.Abs(loss-want) > 1e-5*math.Abs(want) {
		t.Errorf("loss %v, want %v", loss, want)
	}
	dpix := m.Backward(ce.Backward())
	grads := map[string][]float32{"pixel_values": dpix.F32()}
	for _, p := range nn.AllParams(m) {
		grads[p.Name] = p.Grad.F32()
	}
	var checked int
	for _, key := range ref.f.Names() {
		name, ok := strings.CutPrefix(key, "grad.")
		if !ok {
			continue
		}
		got, ok := grads[name]
		if !ok {
			t.Errorf("%s: no such gradient in the Go model", name)
			continue
		}
		want := ref.tensor(t, key).F32()
		if len(got) != len(want) {
			t.Errorf("%s: %d values, want %d", name, len(got), len(want))
			continue
		}
		checked++
		if strings.HasSuffix(name, ".key.bias") {
			// Exactly zero: a key bias adds q·b to a whole row of scores,
			// which softmax ignores. Check it is zero at the scale of the
			// query bias gradient, where a relative error means nothing.
			qs := maxAbs(grads[strings.Replace(name, ".key.", ".query.", 1)])
			gs, ws := maxAbs(got), maxAbs(want)
			if gs > 1e-5*qs || ws > 1e-5*qs {
				t.Errorf("%s: max %g (PyTorch %g), want ~0 next to query bias gradients of %g", name, gs, ws, qs)
			}
			continue
		}
		if rel, scale := relErr(got, want); rel > 1e-3 {
			t.Errorf("%s: relative error %.3g > 1e-3 (scale %.3g)", name, rel, scale)
		} else {
			t.Logf("%s: relative error %.2g", name, rel)
		}
	}
	if want := len(nn.AllParams(m)) + 1; checked != want {
		t.Errorf("checked %d gradients, want %d (every parameter and pixel_values)", checked, want)
	}
}

func maxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}
