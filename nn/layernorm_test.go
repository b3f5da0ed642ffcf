package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/tensor"
)

func TestLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 3))
	const dim = 7
	ln := NewLayerNorm("enc.layernorm", dim, 1e-5)
	randomize(t, ln, rng, 1)
	x := randT(rng, 2, 3, 5, dim)
	// Forward against a float64 reference.
	y := ln.Forward(x).F32()
	want := make([]float64, x.Len())
	for r := 0; r < x.Len()/dim; r++ {
		row := x.F32()[r*dim : (r+1)*dim]
		var m, v float64
		for _, a := range row {
			m += float64(a)
		}
		m /= dim
		for _, a := range row {
			v += (float64(a) - m) * (float64(a) - m)
		}
		v /= dim
		for j, a := range row {
			want[r*dim+j] = (float64(a)-m)/math.Sqrt(v+1e-5)*float64(ln.Weight.Value.F32()[j]) + float64(ln.Bias.Value.F32()[j])
		}
	}
	if d, s := maxAbsDiff(y, want); d > 1e-5*s {
		t.Fatalf("forward differs from the float64 reference by %g (scale %g)", d, s)
	}
	var dx *tensor.Tensor
	checkFD(t, func() *tensor.Tensor { return ln.Forward(x) },
		func(dy *tensor.Tensor) { ZeroGrads(ln); dx = ln.Backward(dy) },
		[]fdVar{{"x", x.F32(), func() []float32 { return dx.F32() }}, paramVar(ln.Weight), paramVar(ln.Bias)}, 1e-2, fdTol)
}

func TestLayerNormFrozenNoInputGrad(t *testing.T) {
	ln := NewLayerNorm("ln", 4, 1e-12)
	ln.SetInputGrad(false)
	x := randT(rand.New(rand.NewPCG(1, 1)), 1, 2, 4)
	ln.Forward(x)
	if dx := ln.Backward(randT(rand.New(rand.NewPCG(1, 2)), 1, 2, 4)); dx != nil {
		t.Fatal("Backward returned dx with input gradients off")
	}
	if ln.Weight.Grad != nil || ln.Bias.Grad != nil {
		t.Fatal("frozen LayerNorm has gradients")
	}
}
