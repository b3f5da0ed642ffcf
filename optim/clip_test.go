package optim

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// newParam returns a parameter of the given shape with values uniform in
// [−1, 1), trainable (with a gradient uniform in [−gscale, gscale)) or
// frozen.
func newParam(rng *rand.Rand, name string, trainable bool, gscale float64, shape ...int) *nn.Param {
	p := nn.NewParam(name, tensor.New(tensor.F32, shape...))
	fill(rng, p.Value.F32(), 1)
	if trainable {
		if err := p.SetTrainable(true); err != nil {
			panic(err)
		}
		fill(rng, p.Grad.F32(), gscale)
	}
	return p
}

func fill(rng *rand.Rand, x []float32, scale float64) {
	for i := range x {
		x[i] = float32((2*rng.Float64() - 1) * scale)
	}
}

func clone(x []float32) []float32 { return append([]float32(nil), x...) }

func testParams(seed uint64, gscale float64) []*nn.Param {
	rng := rand.New(rand.NewPCG(seed, 1))
	return []*nn.Param{
		newParam(rng, "a.weight", true, gscale, 7, 5),
		newParam(rng, "a.bias", true, gscale, 7),
		newParam(rng, "frozen.weight", false, 0, 9, 9),
		newParam(rng, "b.weight", true, gscale, 65),
	}
}

func TestClipGradNorm(t *testing.T) {
	for _, c := range []struct {
		name            string
		gscale, maxNorm float64
		clips           bool
	}{
		{"clipped", 1, 1, true},
		{"not clipped", 1e-3, 1, false},
		{"large max", 10, 1e6, false},
	} {
		params := testParams(1, c.gscale)
		var ss float64
		before := map[string][]float32{}
		for _, p := range params {
			if p.Grad != nil {
				before[p.Name] = clone(p.Grad.F32())
				for _, g := range p.Grad.F32() {
					ss += float64(g) * float64(g)
				}
			}
		}
		want := math.Sqrt(ss)
		total, err := ClipGradNorm(params, c.maxNorm)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if math.Abs(total-want) > 1e-12*want {
			t.Errorf("%s: total norm %.15g, want %.15g", c.name, total, want)
		}
		coef := c.maxNorm / (want + 1e-6)
		for _, p := range params {
			if p.Grad == nil {
				continue
			}
			for i, g := range p.Grad.F32() {
				w := float64(before[p.Name][i])
				if c.clips {
					w *= coef
				}
				if math.Abs(float64(g)-w) > 1e-7*math.Abs(w) {
					t.Fatalf("%s: %s grad[%d] = %g, want %g", c.name, p.Name, i, g, w)
				}
			}
		}
		if after := GradNorm(params); c.clips && math.Abs(after-c.maxNorm) > 1e-6 {
			t.Errorf("%s: norm after clipping %g, want %g", c.name, after, c.maxNorm)
		}
	}
}

func TestClipGradNormEdge(t *testing.T) {
	// torch clips when max/(total+1e-6) < 1, i.e. just below max too.
	p := nn.NewParam("w", tensor.FromF32([]float32{3, 4}, 2))
	if err := p.SetTrainable(true); err != nil {
		t.Fatal(err)
	}
	copy(p.Grad.F32(), []float32{3, 4})
	total, err := ClipGradNorm([]*nn.Param{p}, 5)
	if err != nil || total != 5 {
		t.Fatalf("total = %v, %v; want 5", total, err)
	}
	if g := p.Grad.F32(); g[0] >= 3 || g[1] >= 4 {
		t.Errorf("norm exactly at max: grads %v not scaled by 5/(5+1e-6)", g)
	}
}

func TestClipGradNormNonFinite(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		params := testParams(2, 1)
		params[3].Grad.F32()[10] = bad
		want := clone(params[0].Grad.F32())
		total, err := ClipGradNorm(params, 1)
		if !errors.Is(err, ErrNonFiniteNorm) {
			t.Errorf("grad %v: error %v, want ErrNonFiniteNorm", bad, err)
		}
		if !math.IsNaN(total) && !math.IsInf(total, 1) {
			t.Errorf("grad %v: total %v", bad, total)
		}
		for i, g := range params[0].Grad.F32() {
			if g != want[i] {
				t.Fatalf("grad %v: gradients were scaled", bad)
			}
		}
	}
	for _, m := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := ClipGradNorm(testParams(3, 1), m); err == nil {
			t.Errorf("max norm %v accepted", m)
		}
	}
}
