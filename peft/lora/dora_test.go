package lora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// doraCase is one layer configuration of the DoRA tests.
type doraCase struct {
	name      string
	dropout   float64
	training  bool
	fifo      bool // fan_in_fan_out weight [in, out]
	bf16      bool // frozen weight stored in bf16
	trainBias bool
}

var doraCases = []doraCase{
	{name: "plain", training: true},
	{name: "dropout-train", dropout: 0.3, training: true},
	{name: "dropout-eval", dropout: 0.3},
	{name: "bias-trained", training: true, trainBias: true},
	{name: "bias-trained-dropout", dropout: 0.25, training: true, trainBias: true},
	{name: "fan_in_fan_out", dropout: 0.2, training: true, fifo: true},
	{name: "fan_in_fan_out-plain", training: true, fifo: true},
	{name: "bf16-dropout", dropout: 0.3, training: true, bf16: true},
}

// newDoRALayer builds a DoRA layer with random non-zero factors and every
// adapter parameter trainable.
func newDoRALayer(t *testing.T, tc doraCase, rng *rand.Rand, n, in, out, r int) *Linear {
	t.Helper()
	base := nn.NewLinear("blk.value", in, out, true)
	if tc.fifo {
		base.FanInFanOut = true
		base.Weight.Value = tensor.New(tensor.F32, in, out)
	}
	randFill(rng, base.Weight.Value.F32(), 0.5)
	randFill(rng, base.Bias.Value.F32(), 0.5)
	if tc.bf16 {
		base.Weight.Value = base.Weight.Value.To(tensor.BF16)
	}
	if tc.trainBias {
		if err := base.Bias.SetTrainable(true); err != nil {
			t.Fatal(err)
		}
	}
	l := newLinear(base)
	mustAdd(t, l, "default", adapterSpec{r: r, alpha: 6, scale: 6.0 / float64(r), dropout: tc.dropout, init: InitRandom, dora: true}, rng)
	l.active = "default"
	l.SetTraining(tc.training)
	l.SetStep(5)
	a := l.adapters["default"]
	randFill(rng, a.M.Value.F32(), 1) // a magnitude that is not the norm
	for _, p := range []*nn.Param{a.A, a.B, a.M} {
		if err := p.SetTrainable(true); err != nil {
			t.Fatal(err)
		}
	}
	l.SetInputGrad(true)
	return l
}

// denseWeight returns the base weight as float64 [out][in].
func denseWeight(l *Linear) [][]float64 {
	in, out := l.Base.In, l.Base.Out
	v := make([]float32, in*out)
	l.Base.Weight.Value.Dequantize(v, 0)
	w := make([][]float64, out)
	for j := range w {
		w[j] = make([]float64, in)
		for i := range w[j] {
			if l.Base.FanInFanOut {
				w[j][i] = float64(v[i*out+j])
			} else {
				w[j][i] = float64(v[j*in+i])
			}
		}
	}
	return w
}

// doraReference computes PEFT's DoRA output in float64 from the
// definition: W' = W + s·B·A, c = m/‖W'_j‖, and
// y = W·x + b + (c − 1)⊙(W·x̃) + c⊙(s·B·A·x̃).
func doraReference(l *Linear, x []float32, n int) (y []float64, norm []float64) {
	a := l.adapters["default"]
	in, out, r := l.Base.In, l.Base.Out, a.r
	w := denseWeight(l)
	s := float64(a.scale)
	av, bv, m := a.A.Value.F32(), a.B.Value.F32(), a.M.Value.F32()
	ba := make([][]float64, out)
	norm = make([]float64, out)
	for j := range ba {
		ba[j] = make([]float64, in)
		var sq float64
		for i := range ba[j] {
			for k := 0; k < r; k++ {
				ba[j][i] += float64(bv[j*r+k]) * float64(av[k*in+i])
			}
			v := w[j][i] + s*ba[j][i]
			sq += v * v
		}
		norm[j] = math.Sqrt(sq)
	}
	xd := x
	if l.training && a.dropout != 0 {
		xd = make([]float32, len(x))
		kernels.DropoutForward(xd, x, a.dropout, nn.SeedFor(l.Name(), l.step), 0)
	}
	y = make([]float64, n*out)
	bias := make([]float32, out)
	if l.Base.Bias != nil {
		bias = l.Base.Bias.Value.F32()
	}
	for t := 0; t < n; t++ {
		for j := 0; j < out; j++ {
			c := float64(m[j]) / norm[j]
			var wx, wxd, bax float64
			for i := 0; i < in; i++ {
				wx += w[j][i] * float64(x[t*in+i])
				wxd += w[j][i] * float64(xd[t*in+i])
				bax += ba[j][i] * float64(xd[t*in+i])
			}
			y[t*out+j] = wx + float64(bias[j]) + (c-1)*wxd + c*s*bax
		}
	}
	return y, norm
}

// TestDoRAForward checks the layer's output and its norm against the
// definition computed densely in float64, for every configuration.
func TestDoRAForward(t *testing.T) {
	for _, tc := range doraCases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 12))
			const n, in, out, r = 6, 9, 7, 3
			l := newDoRALayer(t, tc, rng, n, in, out, r)
			x := tensor.New(tensor.F32, n, in)
			randFill(rng, x.F32(), 1)
			y := l.Forward(x)
			want, norm := doraReference(l, x.F32(), n)
			var maxY float64
			for _, v := range want {
				maxY = math.Max(maxY, math.Abs(v))
			}
			for i, v := range want {
				if d := math.Abs(float64(y.F32()[i]) - v); d > 2e-6*maxY {
					t.Fatalf("y[%d] = %g, reference %g", i, y.F32()[i], v)
				}
			}
			for j, v := range norm {
				if got := float64(l.mn.F32()[j]); math.Abs(got-v) > 1e-6*v {
					t.Errorf("norm[%d] = %g, reference %g", j, got, v)
				}
			}
		})
	}
}

// TestDoRAGradients checks dx, dA, dB, the magnitude's gradient and a
// trained bias's against central differences, with the norm held constant
// (detached, as PEFT and the paper's §4.3 have it).
func TestDoRAGradients(t *testing.T) {
	for _, tc := range doraCases {
		if !tc.training && tc.dropout == 0 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(21, 22))
			const n, in, out, r = 5, 7, 6, 3
			l := newDoRALayer(t, tc, rng, n, in, out, r)
			a := l.adapters["default"]
			x := tensor.New(tensor.F32, n, in)
			randFill(rng, x.F32(), 1)
			w := make([]float32, n*out)
			randFill(rng, w, 1)
			l.Forward(x)
			l.fixedNorm = append([]float32(nil), l.mn.F32()[:out]...)
			dx := append([]float32(nil), l.Backward(tensor.FromF32(append([]float32(nil), w...), n, out)).F32()...)
			f := func() float64 { return lossOf(l.Forward(x), w) }
			checkGrad(t, "dx", x.F32(), dx, f)
			checkGrad(t, "dA", a.A.Value.F32(), a.A.Grad.F32(), f)
			checkGrad(t, "dB", a.B.Value.F32(), a.B.Grad.F32(), f)
			checkGrad(t, "dm", a.M.Value.F32(), a.M.Grad.F32(), f)
			if tc.trainBias {
				checkGrad(t, "dbias", l.Base.Bias.Value.F32(), l.Base.Bias.Grad.F32(), f)
			}
		})
	}
}

// TestDoRAMagnitudeInit: m starts at ‖W‖ per row (B = 0), or at
// ‖W + s·B·A‖ when B is not zero (init false), so the initial adapter is
// the identity in either case only when B = 0.
func TestDoRAMagnitudeInit(t *testing.T) {
	for _, init := range []Init{InitDefault, InitRandom} {
		for _, fifo := range []bool{false, true} {
			rng := rand.New(rand.NewPCG(31, 32))
			base := nn.NewLinear("q", 8, 5, false)
			if fifo {
				base.FanInFanOut = true
				base.Weight.Value = tensor.New(tensor.F32, 8, 5)
			}
			randFill(rng, base.Weight.Value.F32(), 0.5)
			l := newLinear(base)
			mustAdd(t, l, "default", adapterSpec{r: 2, alpha: 4, scale: 2, init: init, dora: true}, rng)
			l.active = "default"
			x := make([]float32, 8)
			_, norm := doraReference(l, x, 1)
			for j, v := range l.adapters["default"].M.Value.F32() {
				if math.Abs(float64(v)-norm[j]) > 1e-6*norm[j] {
					t.Errorf("init %s fifo %v: m[%d] = %g, ‖W + sBA‖ = %g", init, fifo, j, v, norm[j])
				}
			}
		}
	}
}

// TestDoRAMergeUnmerge: the merged weight m⊙(W + s·B·A)/‖·‖ computes the
// adapter's output; unmerging restores W.
func TestDoRAMergeUnmerge(t *testing.T) {
	for _, tc := range []doraCase{{name: "rows", training: true}, {name: "fan_in_fan_out", training: true, fifo: true}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(41, 42))
			const n, in, out, r = 4, 9, 6, 2
			l := newDoRALayer(t, tc, rng, n, in, out, r)
			x := tensor.New(tensor.F32, n, in)
			randFill(rng, x.F32(), 1)
			want := l.Forward(x).Clone()
			orig := l.Base.Weight.Value.Clone()
			if err := l.merge("default"); err != nil {
				t.Fatal(err)
			}
			got := l.Forward(x)
			if e := relErr(got.F32(), want.F32()); e > 1e-6 {
				t.Errorf("merged output relative error %g", e)
			}
			l.unmerge()
			if e := relErr(l.Base.Weight.Value.F32(), orig.F32()); e > 1e-6 {
				t.Errorf("unmerge: weight relative error %g", e)
			}
			if e := relErr(l.Forward(x).F32(), want.F32()); e > 1e-6 {
				t.Errorf("after unmerge: output relative error %g", e)
			}
		})
	}
}

func relErr(a, b []float32) float64 {
	var d, m float64
	for i := range b {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = math.Max(m, math.Abs(float64(b[i])))
	}
	return d / math.Max(m, 1e-30)
}
