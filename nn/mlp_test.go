package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/tensor"
)

func TestOutputAndIntermediate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	inter, err := NewIntermediate("layer.0.intermediate", 5, 11, "gelu")
	if err != nil {
		t.Fatal(err)
	}
	out := NewOutput("layer.0.output", 11, 5, 0.2, 9)
	for _, m := range []Module{inter, out} {
		randomize(t, m, rng, 0.5)
	}
	x := randT(rng, 1, 2, 3, 5)
	fwd := func() *tensor.Tensor { out.Dropout.Step = 0; return out.Forward(inter.Forward(x)) }
	var dx *tensor.Tensor
	vars := []fdVar{{"x", x.F32(), func() []float32 { return dx.F32() }}}
	for _, p := range append(AllParams(inter), AllParams(out)...) {
		vars = append(vars, paramVar(p))
	}
	checkFD(t, fwd, func(dy *tensor.Tensor) {
		ZeroGrads(inter)
		ZeroGrads(out)
		dx = inter.Backward(out.Backward(dy))
	}, vars, 1e-2, fdTol)

	// Frozen and no input gradient: nothing runs, nil comes back.
	for _, p := range append(AllParams(inter), AllParams(out)...) {
		p.SetTrainable(false)
	}
	out.SetInputGrad(false)
	fwd()
	if g := out.Backward(randT(rng, 1, 2, 3, 5)); g != nil {
		t.Error("frozen Output without input gradient returned a gradient")
	}
}
