package lora

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/golora/golora/internal/linalg"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// initFactors fills a.A and a.B as init_lora_weights asks (PEFT's
// update_layer: reset_lora_parameters, pissa_init, olora_init). PiSSA and
// OLoRA also rewrite the base weight to the residual W − s·B·A and keep a
// copy of the initial factors for SaveAdapterConverted.
func (l *Linear) initFactors(a *adapter, init Init, rng *rand.Rand) error {
	in, r := l.Base.In, a.r
	av, bv := a.A.Value.F32(), a.B.Value.F32()
	switch init {
	case "", InitDefault: // kaiming_uniform_(a=√5): bound = √(6/((1+a²)·fan_in)) = 1/√fan_in; B = 0
		uniform(av, 1/math.Sqrt(float64(in)), rng)
		return nil
	case InitGaussian: // nn.init.normal_(A, std=1/r); B = 0
		std := 1 / float64(r)
		for i := range av {
			av[i] = float32(rng.NormFloat64() * std)
		}
		return nil
	case InitRandom: // nothing reset: both keep nn.Linear's init, U(±1/√fan_in)
		uniform(av, 1/math.Sqrt(float64(in)), rng)
		uniform(bv, 1/math.Sqrt(float64(r)), rng)
		return nil
	}
	if err := checkInit(l.Base, adapterSpec{r: a.r, alpha: a.alpha, scale: float64(a.scale), init: init}); err != nil {
		return err
	}
	w := l.baseDense() // [out, in]: transposed from a fan_in_fan_out layer
	var aD, bD *linalg.Dense
	if init == InitOLoRA {
		aD, bD = oloraFactors(w, r)
	} else {
		var u, v *linalg.Dense // u [out, r], v [in, r]
		var s []float64
		if niter, ok := init.pissaNiter(); ok {
			u, s, v = linalg.LowRankSVD(w, r, niter, rng)
		} else {
			d := linalg.Decompose(w)
			u, s, v = d.U.ColSlice(0, r), d.S[:r], d.Vt.RowSlice(0, r).T()
		}
		aD, bD = pissaFactors(u, s, v, float64(a.scale))
	}
	round32(av, aD.Data)
	round32(bv, bD.Data)
	// W_res = W − s·B·A with the stored (f32) factors, rounded once.
	s := float64(a.scale)
	out := l.Base.Out
	for i := 0; i < out; i++ {
		row := w.Row(i)
		for k := 0; k < r; k++ {
			bik := s * float64(bv[i*r+k])
			if bik == 0 {
				continue
			}
			ak := av[k*in : (k+1)*in]
			for j := range row {
				row[j] -= bik * float64(ak[j])
			}
		}
	}
	l.setBaseDense(w)
	a.initA, a.initB = a.A.Value.Clone(), a.B.Value.Clone()
	return nil
}

// checkInit refuses what an init cannot do on base, before anything
// changes: PiSSA and OLoRA rewrite the base weight, so it must be stored
// in a float dtype, r must not exceed min(in, out), and PiSSA divides by
// the scaling.
func checkInit(base *nn.Linear, sp adapterSpec) error {
	if !sp.init.MutatesBase() {
		return nil
	}
	in, out := base.In, base.Out
	switch dt := base.Weight.Value.DType(); dt {
	case tensor.F32, tensor.BF16, tensor.F16:
	default:
		return fmt.Errorf("lora: %s: init_lora_weights %q rewrites the base weight, which is stored as %v; initialise under f32, bf16 or f16 and quantise the residual model afterwards", base.Name(), sp.init, dt)
	}
	if sp.r > min(in, out) {
		return fmt.Errorf("lora: %s: init_lora_weights %q needs r <= min(in, out) = %d, got r = %d", base.Name(), sp.init, min(in, out), sp.r)
	}
	if sp.init == InitOLoRA && base.FanInFanOut {
		// PEFT's olora_init factors the stored [in, out] weight as if it
		// were [out, in]: wrong shapes unless square, so refuse.
		return fmt.Errorf("lora: %s: init_lora_weights \"olora\" does not support fan_in_fan_out layers", base.Name())
	}
	if sp.init != InitOLoRA && !(sp.scale > 0) {
		return fmt.Errorf("lora: %s: PiSSA divides the singular values by the scaling, which must be positive (lora_alpha %v)", base.Name(), sp.alpha)
	}
	return nil
}

// oloraFactors is olora_init: W = Q·R (Householder, LAPACK's signs, as
// torch.linalg.qr), B = Q[:, :r], A = R[:r, :].
func oloraFactors(w *linalg.Dense, r int) (a, b *linalg.Dense) {
	q, rr := linalg.QR(w)
	return rr.RowSlice(0, r), q.ColSlice(0, r)
}

// pissaFactors is pissa_init's A = diag(√(S_r/s))·V_rᵀ and
// B = U_r·diag(√(S_r/s)), from u [out, r], s (r values) and v [in, r].
func pissaFactors(u *linalg.Dense, sv []float64, v *linalg.Dense, scale float64) (a, b *linalg.Dense) {
	r := len(sv)
	a = v.T() // [r, in]
	b = u.Clone()
	for k := 0; k < r; k++ {
		root := math.Sqrt(sv[k] / scale)
		row := a.Row(k)
		for j := range row {
			row[j] *= root
		}
		for i := 0; i < b.Rows; i++ {
			b.Data[i*r+k] *= root
		}
	}
	return a, b
}

// baseDense returns the base weight as a float64 [out, in] matrix
// (transposed from fan_in_fan_out storage).
func (l *Linear) baseDense() *linalg.Dense {
	in, out := l.Base.In, l.Base.Out
	v := make([]float32, in*out)
	l.Base.Weight.Value.Dequantize(v, 0)
	if l.Base.FanInFanOut {
		return linalg.FromF32(v, in, out).T()
	}
	return linalg.FromF32(v, out, in)
}

// setBaseDense stores w [out, in] back into the base weight, in place, in
// its dtype and layout (f32, or rounded to bf16/f16).
func (l *Linear) setBaseDense(w *linalg.Dense) {
	if l.Base.FanInFanOut {
		w = w.T()
	}
	v := make([]float32, len(w.Data))
	round32(v, w.Data)
	switch t := l.Base.Weight.Value; t.DType() {
	case tensor.F32:
		copy(t.F32(), v)
	case tensor.BF16:
		tensor.BF16FromF32Slice(t.BF16(), v)
	case tensor.F16:
		tensor.F16FromF32Slice(t.F16(), v)
	default: // checkMutableBase refused it
		panic("lora: setBaseDense on " + t.DType().String())
	}
}

func uniform(v []float32, bound float64, rng *rand.Rand) {
	for i := range v {
		v[i] = float32((2*rng.Float64() - 1) * bound)
	}
}

func round32(dst []float32, src []float64) {
	for i, x := range src {
		dst[i] = float32(x)
	}
}
