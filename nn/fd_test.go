package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/tensor"
)

// fdVar is one tensor whose gradient a finite-difference check verifies:
// the values it perturbs and the analytic gradient read after Backward.
type fdVar struct {
	name string
	val  []float32
	grad func() []float32
}

// paramVar makes an fdVar of a trainable parameter.
func paramVar(p *Param) fdVar {
	return fdVar{name: p.Name, val: p.Value.F32(), grad: func() []float32 { return p.Grad.F32() }}
}

// checkFD verifies analytic gradients against central differences of the
// scalar L = Σ r⊙forward() for a fixed random projection r. backward gets
// dL/dy = r after parameter gradients have been cleared. The error of a
// gradient is max|analytic − numeric| / max|numeric|: relative to the
// tensor's scale, so that entries that are near zero by cancellation do not
// dominate. The differences are taken in float64 from f32 forwards, with
// step h and the perturbation actually representable in f32.
func checkFD(t *testing.T, forward func() *tensor.Tensor, backward func(dy *tensor.Tensor), vars []fdVar, h, tol float64) {
	t.Helper()
	rels, err := fdErrors(forward, backward, vars, h)
	if err != nil {
		t.Fatal(err)
	}
	for i, rel := range rels {
		if rel > tol {
			t.Errorf("%s: analytic vs finite-difference gradient: relative error %.3g > %.g", vars[i].name, rel, tol)
		} else {
			t.Logf("%s: relative error %.2g", vars[i].name, rel)
		}
	}
}

// fdErrors returns, for each var, max|analytic − numeric| / max|numeric|.
func fdErrors(forward func() *tensor.Tensor, backward func(dy *tensor.Tensor), vars []fdVar, h float64) ([]float64, error) {
	rng := rand.New(rand.NewPCG(7, 11))
	y := forward()
	r := make([]float32, y.Len())
	for i := range r {
		r[i] = float32(rng.NormFloat64())
	}
	backward(tensor.FromF32(append([]float32(nil), r...), y.Shape()...))
	analytic := make([][]float32, len(vars))
	for i, v := range vars {
		g := v.grad()
		if g == nil {
			return nil, fmt.Errorf("%s: no analytic gradient", v.name)
		}
		analytic[i] = append([]float32(nil), g...)
	}
	loss := func() float64 {
		y := forward().F32()
		var s float64
		for i, v := range y {
			s += float64(r[i]) * float64(v)
		}
		return s
	}
	rels := make([]float64, len(vars))
	for vi, v := range vars {
		var maxErr, maxNum float64
		for i := range v.val {
			orig := v.val[i]
			xp, xm := float32(float64(orig)+h), float32(float64(orig)-h)
			v.val[i] = xp
			lp := loss()
			v.val[i] = xm
			lm := loss()
			v.val[i] = orig
			num := (lp - lm) / (float64(xp) - float64(xm))
			maxErr = max(maxErr, math.Abs(num-float64(analytic[vi][i])))
			maxNum = max(maxNum, math.Abs(num))
		}
		if maxNum == 0 {
			return nil, fmt.Errorf("%s: numeric gradient is identically zero; the check would prove nothing", v.name)
		}
		rels[vi] = maxErr / maxNum
	}
	return rels, nil
}

// TestFDDetectsWrongGradient makes sure the checker fails a gradient that is
// off by 0.5 %: the tests built on it can fail.
func TestFDDetectsWrongGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	l := NewLinear("fc", 4, 3, true)
	randomize(t, l, rng, 1)
	x := randT(rng, 1, 2, 4)
	rels, err := fdErrors(func() *tensor.Tensor { return l.Forward(x) }, func(dy *tensor.Tensor) {
		ZeroGrads(l)
		l.Backward(dy)
		kernels.Scale(l.Weight.Grad.F32(), 1.005)
	}, []fdVar{paramVar(l.Weight), paramVar(l.Bias)}, 1e-2)
	if err != nil {
		t.Fatal(err)
	}
	if rels[0] < 2*fdTol || rels[1] > fdTol/10 {
		t.Errorf("relative errors %v: want the scaled weight gradient flagged (> %g) and the bias not", rels, 2*fdTol)
	}
}

// randT returns an f32 tensor with N(0, std²) entries.
func randT(rng *rand.Rand, std float64, shape ...int) *tensor.Tensor {
	x := tensor.New(tensor.F32, shape...)
	Normal(x, std, rng)
	return x
}

// randomize fills every parameter of m with N(0, std²) and makes it trainable.
func randomize(t *testing.T, m Module, rng *rand.Rand, std float64) {
	t.Helper()
	for _, p := range AllParams(m) {
		Normal(p.Value, std, rng)
		if err := p.SetTrainable(true); err != nil {
			t.Fatal(err)
		}
	}
}

// maxAbsDiff returns max|a−b| and max|b|.
func maxAbsDiff(a []float32, b []float64) (diff, scale float64) {
	for i := range b {
		diff = max(diff, math.Abs(float64(a[i])-b[i]))
		scale = max(scale, math.Abs(b[i]))
	}
	return diff, scale
}

const fdTol = 1e-3
