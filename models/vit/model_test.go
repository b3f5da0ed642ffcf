package vit

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// microConfig is a ViT small enough for finite differences, with odd
// sizes and every dropout on.
func microConfig() Config {
	c := DefaultConfig()
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 6, 2, 2, 10
	c.ImageSize, c.PatchSize, c.NumChannels = 6, 3, 2
	c.HiddenDropoutProb, c.AttentionProbsDropoutProb = 0.2, 0.3
	c.HiddenAct = "gelu_new"
	c.SetLabels(DefaultLabels(3))
	return c
}

func TestNewInit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 64, 2, 4, 128
	cfg.ImageSize, cfg.PatchSize = 32, 8
	m, err := New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := New(cfg, 7)
	for i, p := range nn.AllParams(m) {
		v := p.Value.F32()
		q := nn.AllParams(again)[i]
		if !slices.Equal(v, q.Value.F32()) {
			t.Errorf("%s: the same seed gave different values", p.Name)
		}
		var mean, sq float64
		for _, x := range v {
			mean += float64(x)
			sq += float64(x) * float64(x)
		}
		mean /= float64(len(v))
		std := math.Sqrt(sq/float64(len(v)) - mean*mean)
		switch {
		case p.Name == "vit.layernorm.weight" || len(p.Name) > 14 && p.Name[len(p.Name)-14:] == "_before.weight":
			if mean != 1 || std != 0 {
				t.Errorf("%s: mean %v std %v, want ones", p.Name, mean, std)
			}
		case p.Value.Len() >= 1024: // big enough for a loose statistical check
			if math.Abs(std-0.02) > 0.004 || math.Abs(mean) > 0.004 {
				t.Errorf("%s: mean %v std %v, want N(0, 0.02²)", p.Name, mean, std)
			}
		}
	}
	if got, want := Count(m).Total, ExpectedCount(cfg).Total; got != want {
		t.Errorf("%d parameters, want %d", got, want)
	}
}

// TestModelGradientsWithDropout checks the whole model's backward (both
// blocks, embeddings, every dropout on with replayed masks) against finite
// differences on a micro ViT.
// fdStep and fdStd: parameters drawn with std 0.5 make the attention
// peaked enough that its gradients stand well above the f32 rounding of
// the loss, which the differences divide by h.
const fdStep, fdStd = 3e-2, 0.5

func TestModelGradientsWithDropout(t *testing.T) {
	cfg := microConfig()
	m, err := New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for _, p := range nn.AllParams(m) { // values large enough to matter
		nn.Normal(p.Value, fdStd, rng)
		if err := p.SetTrainable(true); err != nil {
			t.Fatal(err)
		}
	}
	m.InputGrad = true
	pix := tensor.New(tensor.F32, 2, cfg.NumChannels, cfg.ImageSize, cfg.ImageSize)
	nn.Normal(pix, 1, rng)
	var dropouts []*nn.Dropout
	_ = nn.Walk(m, func(x nn.Module) error {
		if d, ok := x.(*nn.Dropout); ok {
			dropouts = append(dropouts, d)
		}
		return nil
	})
	if len(dropouts) != 1+3*cfg.NumHiddenLayers {
		t.Fatalf("%d dropout modules", len(dropouts))
	}
	forward := func() *tensor.Tensor {
		for _, d := range dropouts {
			d.Step = 0
		}
		return m.Forward(pix)
	}
	rv := make([]float32, 2*cfg.NumLabels)
	for i := range rv {
		rv[i] = float32(rng.NormFloat64())
	}
	loss := func() float64 {
		var s float64
		for i, v := range forward().F32() {
			s += float64(rv[i]) * float64(v)
		}
		return s
	}
	loss()
	m.ZeroGrads()
	dpix := m.Backward(tensor.FromF32(slices.Clone(rv), 2, cfg.NumLabels))
	grads := map[string][]float32{"pixel_values": slices.Clone(dpix.F32())}
	vals := map[string][]float32{"pixel_values": pix.F32()}
	for _, p := range nn.AllParams(m) {
		grads[p.Name], vals[p.Name] = slices.Clone(p.Grad.F32()), p.Value.F32()
	}
	for name, v := range vals {
		if name == "vit.encoder.layer.0.attention.attention.key.bias" || name == "vit.encoder.layer.1.attention.attention.key.bias" {
			continue // exactly zero (softmax shift invariance); checked in nn
		}
		// Fourth-order central differences: the truncation error is O(h⁴),
		// so h can be large enough that f32 rounding in the forward does
		// not dominate (second order leaves too little margin here).
		h := float32(fdStep)
		var maxErr, maxNum float64
		for i := range v {
			o := v[i]
			at := func(d float32) float64 { v[i] = o + d; return loss() }
			l1, l2, m1, m2 := at(h), at(2*h), at(-h), at(-2*h)
			v[i] = o
			num := (8*(l1-m1) - (l2 - m2)) / (12 * float64(h))
			maxErr = max(maxErr, math.Abs(num-float64(grads[name][i])))
			maxNum = max(maxNum, math.Abs(num))
		}
		if maxNum == 0 {
			t.Errorf("%s: numeric gradient is zero", name)
		} else if maxErr/maxNum > 1e-3 {
			t.Errorf("%s: relative error %.3g > 1e-3", name, maxErr/maxNum)
		}
	}
}

// Example loads the tiny test checkpoint and counts its parameters.
func Example() {
	m, err := Load("../../testdata/vit-tiny", LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	c := Count(m)
	fmt.Println(m)
	fmt.Println("labels:", m.Config.Labels())
	fmt.Printf("parameters: %d (embeddings %d, attention %d, mlp %d, layernorm %d, classifier %d)\n",
		c.Total, c.Embeddings, c.Attention, c.MLP, c.LayerNorm, c.Classifier)
	// Output:
	// ViTForImageClassification(hidden 32, 2 layers, 4 heads, image 16, patch 4, 5 labels)
	// labels: [cat dog bird fish frog]
	// parameters: 19461 (embeddings 2144, attention 8448, mlp 8384, layernorm 320, classifier 165)
}
