package kernels

import (
	"fmt"
	"math"
	"strconv"
)

// AdamWParams are torch.optim.AdamW's hyper-parameters.
type AdamWParams struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
}

// AdamWStep applies one AdamW update to p with gradient g and moments m, v,
// where step counts from 1. It follows torch.optim.AdamW (single-tensor,
// non-amsgrad): p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
// p ← p − (lr/(1−β1ᵗ))·m / (√v/√(1−β2ᵗ) + eps).
//
// The per-tensor scalars (1 − lr·wd, 1 − β, the bias corrections) are formed
// in float64 and rounded once, as torch does with its Python-float
// hyper-parameters, and the per-element arithmetic is float32 in torch's
// order (torch 1.13's mul_/add_/addcmul_/addcdiv_ sequence).
func AdamWStep(p, g, m, v []float32, hp AdamWParams, step int) {
	checkLen("AdamWStep", "g", g, len(p))
	checkLen("AdamWStep", "m", m, len(p))
	checkLen("AdamWStep", "v", v, len(p))
	if step < 1 {
		panic(fmt.Sprintf("kernels: AdamWStep: step %d, counts from 1", step))
	}
	lr, beta1, beta2 := decimal64(hp.LR), decimal64(hp.Beta1), decimal64(hp.Beta2)
	bc1 := 1 - math.Pow(beta1, float64(step))
	bc2 := 1 - math.Pow(beta2, float64(step))
	stepSize := float32(lr / bc1)
	bc2Sqrt := float32(math.Sqrt(bc2))
	decay := float32(1 - lr*decimal64(hp.WeightDecay))
	b1, b2 := hp.Beta1, hp.Beta2
	a1, a2 := float32(1-beta1), float32(1-beta2)
	eps := hp.Eps
	parallelRows(len(p), 8, func(lo, hi int) {
		ps, gs, ms, vs := p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi]
		gs, ms, vs = gs[:len(ps)], ms[:len(ps)], vs[:len(ps)]
		for i, gi := range gs {
			pi := ps[i] * decay
			mi := ms[i]*b1 + gi*a1
			vi := vs[i]*b2 + a2*gi*gi
			denom := float32(math.Sqrt(float64(vi)))/bc2Sqrt + eps
			ps[i] = pi - stepSize*mi/denom
			ms[i], vs[i] = mi, vi
		}
	})
}

// decimal64 widens f to the float64 of its shortest decimal form. The
// hyper-parameters arrive as float32, but users and torch think in decimals:
// float32 0.9 widens to 0.89999997615…, and torch's 1 − β1 is formed from
// the double 0.9, which rounds to a different float32 (0.1 vs 0.100000024).
func decimal64(f float32) float64 {
	d, err := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	if err != nil { // unreachable: FormatFloat output always parses
		return float64(f)
	}
	return d
}
