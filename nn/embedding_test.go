package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/tensor"
)

func TestEmbedding(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	e := NewEmbedding("embeddings.word_embeddings", 7, 5)
	randomize(t, e, rng, 1)
	ids := []int32{3, 0, 6, 3, 3, 1} // repeats: the scatter must add
	y := e.Forward(ids, 2, 3)
	if !tensor.SameShape(y.Shape(), []int{2, 3, 5}) {
		t.Fatalf("output shape %v", y.Shape())
	}
	for i, id := range ids {
		for j := 0; j < 5; j++ {
			if y.F32()[i*5+j] != e.Weight.Value.F32()[int(id)*5+j] {
				t.Fatalf("row %d is not table row %d", i, id)
			}
		}
	}
	checkFD(t, func() *tensor.Tensor { return e.Forward(ids, 2, 3) },
		func(dy *tensor.Tensor) { ZeroGrads(e); e.Backward(dy) },
		[]fdVar{paramVar(e.Weight)}, 1e-2, fdTol)

	// A frozen table in bf16, fp16, int8 or NF4 reads its dequantised values.
	e.Weight.SetTrainable(false)
	orig := e.Weight.Value
	for _, dt := range []tensor.DType{tensor.BF16, tensor.F16, tensor.Int8, tensor.NF4} {
		e.Weight.Value = orig.Quantize(dt, dt == tensor.NF4)
		w32 := e.Weight.Value.To(tensor.F32)
		y = e.Forward(ids, 6)
		for i, id := range ids {
			for j := 0; j < 5; j++ {
				if y.F32()[i*5+j] != w32.F32()[int(id)*5+j] {
					t.Fatalf("%v row %d differs from the dequantised table", dt, i)
				}
			}
		}
		if len(e.ids) != 0 {
			t.Error("a frozen Embedding kept its ids")
		}
	}
}
