package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/tensor"
)

// linearRef is y = x·Wᵀ + b in float64 (W [out,in], or [in,out] when fanInFanOut).
func linearRef(x, w, b []float32, n, in, out int, fanInFanOut bool) []float64 {
	y := make([]float64, n*out)
	for i := 0; i < n; i++ {
		for o := 0; o < out; o++ {
			var s float64
			for k := 0; k < in; k++ {
				wk := w[o*in+k]
				if fanInFanOut {
					wk = w[k*out+o]
				}
				s += float64(x[i*in+k]) * float64(wk)
			}
			if b != nil {
				s += float64(b[o])
			}
			y[i*out+o] = s
		}
	}
	return y
}

func TestLinearGradients(t *testing.T) {
	for _, tc := range []struct {
		name              string
		bias, fanInFanOut bool
	}{
		{"bias", true, false},
		{"nobias", false, false},
		{"fan_in_fan_out", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			const in, out = 7, 5
			l := NewLinear("enc.dense", in, out, tc.bias)
			l.FanInFanOut = tc.fanInFanOut
			if tc.fanInFanOut {
				l.Weight.Value = tensor.New(tensor.F32, in, out)
			}
			randomize(t, l, rng, 0.5)
			x := randT(rng, 1, 3, 3, in)
			var b []float32
			if tc.bias {
				b = l.Bias.Value.F32()
			}
			want := linearRef(x.F32(), l.Weight.Value.F32(), b, 9, in, out, tc.fanInFanOut)
			if d, s := maxAbsDiff(l.Forward(x).F32(), want); d > 1e-5*s {
				t.Fatalf("forward differs from the float64 reference by %g (scale %g)", d, s)
			}
			var dx *tensor.Tensor
			vars := []fdVar{{name: "x", val: x.F32(), grad: func() []float32 { return dx.F32() }}}
			for _, p := range l.Params() {
				vars = append(vars, paramVar(p))
			}
			checkFD(t, func() *tensor.Tensor { return l.Forward(x) },
				func(dy *tensor.Tensor) { ZeroGrads(l); dx = l.Backward(dy) }, vars, 1e-2, fdTol)
		})
	}
}

// TestLinearFrozenPaths counts GEMMs: a frozen weight means no dW product
// and no saved input; no input gradient means no dX product.
func TestLinearFrozenPaths(t *testing.T) {
	const n, in, out = 6, 5, 3
	dxFlops := int64(2 * n * in * out)
	for _, tc := range []struct {
		name             string
		trainW, inputGrd bool
		calls            int64
		wantDX           bool
	}{
		{"frozen, dx", false, true, 1, true},
		{"trainable, no dx", true, false, 1, false},
		{"frozen, no dx", false, false, 0, false},
		{"trainable, dx", true, true, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			l := NewLinear("fc", in, out, true)
			Normal(l.Weight.Value, 1, rng)
			if err := l.Weight.SetTrainable(tc.trainW); err != nil {
				t.Fatal(err)
			}
			l.SetInputGrad(tc.inputGrd)
			x := randT(rng, 1, n, in)
			l.Forward(x)
			if !tc.trainW && l.x != nil {
				t.Fatal("a frozen Linear kept a reference to its input")
			}
			before := kernels.ReadCounters()
			dx := l.Backward(randT(rng, 1, n, out))
			got := kernels.ReadCounters().Sub(before)
			if got.Calls != tc.calls || got.Flops != tc.calls*dxFlops {
				t.Errorf("backward ran %d GEMMs / %d flops, want %d / %d", got.Calls, got.Flops, tc.calls, tc.calls*dxFlops)
			}
			if (dx != nil) != tc.wantDX {
				t.Errorf("dx = %v, want non-nil %v", dx, tc.wantDX)
			}
			if !tc.trainW && l.Weight.Grad != nil {
				t.Error("a frozen weight has a gradient")
			}
		})
	}
}

// TestLinearBF16 checks that a bf16 frozen weight computes the same product
// as the f32 weight rounded to bf16, and stays within the rounding bound of
// the f32 result: each weight moves by at most 2⁻⁹ of itself, so each output
// by at most 2⁻⁹·Σ|x·w|.
func TestLinearBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, in, out = 11, 37, 13
	l := NewLinear("fc", in, out, true)
	Normal(l.Weight.Value, 1, rng)
	Normal(l.Bias.Value, 1, rng)
	x := randT(rng, 1, n, in)
	w32 := l.Weight.Value
	y32 := append([]float32(nil), l.Forward(x).F32()...)

	if saved, err := ConvertFrozenLinears(l, Storage{DType: tensor.BF16}); err != nil || saved != int64(in*out*2) {
		t.Fatalf("ConvertFrozenLinears saved %d bytes (%v), want %d", saved, err, in*out*2)
	}
	if l.Weight.Value.DType() != tensor.BF16 {
		t.Fatalf("weight is %v after conversion", l.Weight.Value.DType())
	}
	ybf := l.Forward(x).F32()
	rounded := l.Weight.Value.To(tensor.F32).F32()
	ref := linearRef(x.F32(), rounded, l.Bias.Value.F32(), n, in, out, false)
	if d, s := maxAbsDiff(ybf, ref); d > 1e-5*s {
		t.Errorf("bf16 forward differs from the f32 product with rounded weights by %g (scale %g)", d, s)
	}
	var moved bool
	for i := 0; i < n; i++ {
		for o := 0; o < out; o++ {
			var bound float64
			for k := 0; k < in; k++ {
				bound += math.Abs(float64(x.F32()[i*in+k]) * float64(w32.F32()[o*in+k]))
			}
			bound = bound*math.Ldexp(1, -9) + 1e-5
			d := math.Abs(float64(ybf[i*out+o] - y32[i*out+o]))
			if d > bound {
				t.Errorf("y[%d,%d]: bf16 %g vs f32 %g differ by %g > bound %g", i, o, ybf[i*out+o], y32[i*out+o], d, bound)
			}
			moved = moved || d > 0
		}
	}
	if !moved {
		t.Error("bf16 and f32 outputs are identical: the bf16 weight was not used")
	}
	if err := l.Weight.SetTrainable(true); err == nil {
		t.Error("SetTrainable on a bf16 weight succeeded")
	}
}
