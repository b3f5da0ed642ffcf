package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/tensor"
)

func TestConvertFrozenLinears(t *testing.T) {
	s := NewSelfAttention("attn", 8, 2, true, 0, 1)
	q := s.Query.(*Linear)
	q.Weight.SetTrainable(true)
	if saved, err := ConvertFrozenLinears(s, Storage{DType: tensor.BF16}); err != nil || saved != 2*8*8*2 {
		t.Errorf("saved %d bytes (%v), want %d (key and value weights)", saved, err, 2*8*8*2)
	}
	for _, p := range AllParams(s) {
		want := tensor.F32
		if p.Name == "attn.key.weight" || p.Name == "attn.value.weight" {
			want = tensor.BF16
		}
		if p.Value.DType() != want {
			t.Errorf("%s is %v, want %v", p.Name, p.Value.DType(), want)
		}
	}
}

// countingLayer wraps a Layer to see that a replaced slot is the one used.
type countingLayer struct {
	Layer
	fwd, bwd int
}

func (c *countingLayer) Forward(x *tensor.Tensor) *tensor.Tensor {
	c.fwd++
	return c.Layer.Forward(x)
}

func (c *countingLayer) Backward(dy *tensor.Tensor) *tensor.Tensor {
	c.bwd++
	return c.Layer.Backward(dy)
}

func TestSlotsReplace(t *testing.T) {
	s := NewSelfAttention("enc.attention", 6, 2, true, 0, 1)
	var wrapped *countingLayer
	for _, sl := range s.Slots() {
		if sl.Name == "enc.attention.value" {
			wrapped = &countingLayer{Layer: *sl.Layer}
			*sl.Layer = wrapped
		}
	}
	if wrapped == nil {
		t.Fatal("no slot named enc.attention.value")
	}
	rng := rand.New(rand.NewPCG(1, 1))
	s.Forward(randT(rng, 1, 1, 3, 6))
	s.Backward(randT(rng, 1, 1, 3, 6))
	if wrapped.fwd != 1 || wrapped.bwd != 1 {
		t.Errorf("replaced slot ran %d forwards, %d backwards; want 1, 1", wrapped.fwd, wrapped.bwd)
	}
}
