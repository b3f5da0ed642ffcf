package lora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/internal/linalg"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// mutatedLayer returns a layer whose base weight (random, [out, in], or
// [in, out] with fifo) got an adapter initialised by init, and the
// original weight as float64 [out, in].
func mutatedLayer(t *testing.T, init Init, in, out, r int, fifo bool, dt tensor.DType) (*Linear, *linalg.Dense) {
	t.Helper()
	rng := rand.New(rand.NewPCG(51, 52))
	base := nn.NewLinear("blk.query", in, out, true)
	if fifo {
		base.FanInFanOut = true
		base.Weight.Value = tensor.New(tensor.F32, in, out)
	}
	randFill(rng, base.Weight.Value.F32(), 0.3)
	if dt != tensor.F32 {
		base.Weight.Value = base.Weight.Value.To(dt)
	}
	l := newLinear(base)
	orig := l.baseDense()
	mustAdd(t, l, "default", adapterSpec{r: r, alpha: 6, scale: 6.0 / float64(r), init: init}, rng)
	return l, orig
}

// factorsDense returns s·B·A as float64 [out, in].
func factorsDense(l *Linear) *linalg.Dense {
	a := l.adapters["default"]
	in, out, r := l.Base.In, l.Base.Out, a.r
	d := linalg.NewDense(out, in)
	for j := 0; j < out; j++ {
		for i := 0; i < in; i++ {
			var s float64
			for k := 0; k < r; k++ {
				s += float64(a.B.Value.F32()[j*r+k]) * float64(a.A.Value.F32()[k*in+i])
			}
			d.Set(j, i, float64(a.scale)*s)
		}
	}
	return d
}

// TestPiSSAAndOLoRAInit: the residual base plus s·B·A is the original
// weight (to f32 rounding); PiSSA's factors are the top singular triplets
// (A·Aᵀ = BᵀB = diag(S_r)/s, the residual's spectrum is the rest), OLoRA's
// are Q's first columns (orthonormal) and R's first rows (upper
// triangular); the initial factors are kept for conversion.
func TestPiSSAAndOLoRAInit(t *testing.T) {
	const in, out, r = 12, 9, 3
	for _, tc := range []struct {
		init Init
		fifo bool
		dt   tensor.DType
	}{
		{InitPiSSA, false, tensor.F32}, {InitPiSSA, true, tensor.F32}, {InitPiSSA, false, tensor.BF16},
		{InitOLoRA, false, tensor.F32}, {InitOLoRA, false, tensor.F16},
	} {
		l, orig := mutatedLayer(t, tc.init, in, out, r, tc.fifo, tc.dt)
		name := string(tc.init) + "/" + tc.dt.String()
		if tc.fifo {
			name += "/fan_in_fan_out"
		}
		if l.Base.Weight.Value.DType() != tc.dt {
			t.Errorf("%s: the base weight became %v", name, l.Base.Weight.Value.DType())
		}
		res := l.baseDense()
		sum := res.Clone()
		for i, v := range factorsDense(l).Data {
			sum.Data[i] += v
		}
		tol := 1e-6
		if tc.dt != tensor.F32 {
			tol = 1e-2 // the residual is rounded to bf16/f16
		}
		if d := linalg.MaxAbsDiff(sum, orig); d > tol {
			t.Errorf("%s: residual + s·B·A differs from W by %g", name, d)
		}
		a := l.adapters["default"]
		if a.initA == nil || relErr(a.initA.F32(), a.A.Value.F32()) != 0 || relErr(a.initB.F32(), a.B.Value.F32()) != 0 {
			t.Errorf("%s: initial factors not kept", name)
		}
		A := linalg.FromF32(a.A.Value.F32(), r, in)
		B := linalg.FromF32(a.B.Value.F32(), out, r)
		full := linalg.Decompose(orig)
		if tc.init == InitPiSSA {
			aat, btb := linalg.Mul(A, A.T()), linalg.Mul(B.T(), B)
			for i := 0; i < r; i++ {
				for j := 0; j < r; j++ {
					want := 0.0
					if i == j {
						want = full.S[i] / float64(a.scale)
					}
					if math.Abs(aat.At(i, j)-want) > 1e-5 || math.Abs(btb.At(i, j)-want) > 1e-5 {
						t.Errorf("%s: A·Aᵀ[%d,%d] = %g, BᵀB = %g, want %g", name, i, j, aat.At(i, j), btb.At(i, j), want)
					}
				}
			}
			if tc.dt == tensor.F32 {
				rs := linalg.Decompose(res).S
				for i := 0; i < min(in, out)-r; i++ {
					if math.Abs(rs[i]-full.S[r+i]) > 1e-5 {
						t.Errorf("%s: residual σ%d = %g, want σ%d of W = %g", name, i, rs[i], r+i, full.S[r+i])
					}
				}
			}
			continue
		}
		btb := linalg.Mul(B.T(), B)
		for i := 0; i < r; i++ {
			for j := 0; j < r; j++ {
				want := 0.0
				if i == j {
					want = 1
				}
				if math.Abs(btb.At(i, j)-want) > 1e-6 {
					t.Errorf("%s: BᵀB[%d,%d] = %g: Q's columns are not orthonormal", name, i, j, btb.At(i, j))
				}
			}
			for j := 0; j < i; j++ {
				if A.At(i, j) != 0 {
					t.Errorf("%s: A[%d,%d] = %g: R is not upper triangular", name, i, j, A.At(i, j))
				}
			}
		}
	}
}

// TestPiSSANiter: the randomized init approximates the exact one; with a
// fast-decaying spectrum and a few iterations, s·B·A is the best rank-r
// approximation to 1e-5.
func TestPiSSANiter(t *testing.T) {
	const in, out, r = 16, 12, 3
	rng := rand.New(rand.NewPCG(61, 62))
	d := linalg.Decompose(linalg.FromF32(func() []float32 { v := make([]float32, in*out); randFill(rng, v, 1); return v }(), out, in))
	for i := range d.S {
		d.S[i] = math.Pow(3, -float64(i))
	}
	w := linalg.Mul(d.U, func() *linalg.Dense {
		sv := d.Vt.Clone()
		for i := 0; i < sv.Rows; i++ {
			for j := 0; j < sv.Cols; j++ {
				sv.Data[i*sv.Cols+j] *= d.S[i]
			}
		}
		return sv
	}())
	ba := map[Init]*linalg.Dense{}
	for _, init := range []Init{InitPiSSA, PiSSANiter(4)} {
		base := nn.NewLinear("q", in, out, false)
		round32(base.Weight.Value.F32(), w.Data)
		l := newLinear(base)
		mustAdd(t, l, "default", adapterSpec{r: r, alpha: 2, scale: 2.0 / r, init: init}, rng)
		ba[init] = factorsDense(l)
	}
	if e := linalg.MaxAbsDiff(ba[InitPiSSA], ba[PiSSANiter(4)]); e > 1e-5 {
		t.Errorf("pissa_niter_4's s·B·A differs from pissa's by %g", e)
	}
}

func TestInitNames(t *testing.T) {
	for _, tc := range []struct {
		init    Init
		mutates bool
		valid   bool
	}{
		{InitDefault, false, true}, {InitRandom, false, true}, {InitGaussian, false, true},
		{InitPiSSA, true, true}, {InitOLoRA, true, true}, {"pissa_niter_16", true, true}, {"pissa_niter_0", true, true},
		{"pissa_niter_", false, false}, {"pissa_niter_-1", false, false}, {"pissa_fast", false, false}, {"loftq", false, false}, {"corda", false, false},
	} {
		if got := tc.init.MutatesBase(); got != tc.mutates {
			t.Errorf("%q.MutatesBase() = %v", tc.init, got)
		}
		if err := tc.init.check(); (err == nil) != tc.valid {
			t.Errorf("%q.check() = %v", tc.init, err)
		}
	}
}
