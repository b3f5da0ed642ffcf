package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/tensor"
)

func TestDropoutGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	d := NewDropout("dropout", 0.3, 42)
	x := randT(rng, 1, 4, 9)
	var dx *tensor.Tensor
	// Replaying the same step replays the same mask, so the function being
	// differentiated is fixed.
	checkFD(t, func() *tensor.Tensor { d.Step = 5; return d.Forward(x) },
		func(dy *tensor.Tensor) { dx = d.Backward(dy) },
		[]fdVar{{"x", x.F32(), func() []float32 { return dx.F32() }}}, 1e-2, fdTol)
}

func TestDropoutMask(t *testing.T) {
	const n, p = 20000, 0.25
	d := NewDropout("dropout", p, 1)
	x := tensor.New(tensor.F32, n)
	Fill(x, 1)
	y1 := append([]float32(nil), d.Forward(x).F32()...)
	y2 := d.Forward(x).F32()
	var zeros, same int
	for i := range y1 {
		switch y1[i] {
		case 0:
			zeros++
		case 1 / (1 - p):
		default:
			t.Fatalf("y[%d] = %v: want 0 or 1/(1-p)", i, y1[i])
		}
		if y1[i] == y2[i] {
			same++
		}
	}
	// Binomial(n, p): 5 standard deviations is about ±0.015.
	if frac := float64(zeros) / n; math.Abs(frac-p) > 5*math.Sqrt(p*(1-p)/n) {
		t.Errorf("dropped fraction %.4f, want %.2f", frac, p)
	}
	if same == n {
		t.Error("two steps drew the same mask")
	}
	if d.Step != 2 {
		t.Errorf("Step = %d after two forwards", d.Step)
	}
}

func TestDropoutNoOp(t *testing.T) {
	x := randT(rand.New(rand.NewPCG(1, 1)), 1, 3, 4)
	for _, tc := range []struct {
		name  string
		p     float32
		train bool
	}{{"p=0", 0, true}, {"eval", 0.5, false}} {
		d := NewDropout("dropout", tc.p, 1)
		d.SetTraining(tc.train)
		if y := d.Forward(x); y != x {
			t.Errorf("%s: Forward copied its input", tc.name)
		}
		if dx := d.Backward(x); dx != x {
			t.Errorf("%s: Backward copied its gradient", tc.name)
		}
		if d.Step != 0 {
			t.Errorf("%s: step advanced", tc.name)
		}
	}
}
