package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/golora/golora/tensor"
)

func TestActivations(t *testing.T) {
	ref := map[string]func(float64) float64{
		"gelu": func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) },
		"gelu_new": func(x float64) float64 {
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		},
		"relu": func(x float64) float64 { return max(x, 0) },
		"silu": func(x float64) float64 { return x / (1 + math.Exp(-x)) },
		"tanh": math.Tanh,
	}
	ref["gelu_pytorch_tanh"], ref["gelu_fast"], ref["swish"] = ref["gelu_new"], ref["gelu_new"], ref["silu"]
	for act, f := range ref {
		t.Run(act, func(t *testing.T) {
			a, err := NewActivation("intermediate.intermediate_act_fn", act)
			if err != nil {
				t.Fatal(err)
			}
			x := randT(rand.New(rand.NewPCG(6, 7)), 1.5, 3, 11)
			for i, v := range x.F32() { // keep ReLU's kink out of the differences
				if math.Abs(float64(v)) < 0.05 {
					x.F32()[i] = 0.3
				}
			}
			y := a.Forward(x).F32()
			want := make([]float64, x.Len())
			for i, v := range x.F32() {
				want[i] = f(float64(v))
			}
			if d, s := maxAbsDiff(y, want); d > 1e-6*s {
				t.Fatalf("forward differs from the float64 reference by %g", d)
			}
			var dx *tensor.Tensor
			checkFD(t, func() *tensor.Tensor { return a.Forward(x) },
				func(dy *tensor.Tensor) { dx = a.Backward(dy) },
				[]fdVar{{"x", x.F32(), func() []float32 { return dx.F32() }}}, 1e-2, fdTol)
		})
	}
}

func TestActivationUnsupported(t *testing.T) {
	_, err := NewActivation("act", "mish")
	if err == nil || !strings.Contains(err.Error(), `hidden_act "mish"`) {
		t.Fatalf("err = %v, want one naming hidden_act \"mish\"", err)
	}
}
