package kernels

import "math"

// AdamWParams are torch.optim.AdamW's hyper-parameters.
type AdamWParams struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
}

// AdamWStep applies one AdamW update to p with gradient g and moments m, v,
// where step counts from 1. It follows torch.optim.AdamW (single-tensor,
// non-amsgrad): p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
// p ← p − (lr/(1−β1ᵗ))·m / (√v/√(1−β2ᵗ) + eps).
func AdamWStep(p, g, m, v []float32, hp AdamWParams, step int) {
	checkLen("AdamWStep", "g", g, len(p))
	checkLen("AdamWStep", "m", m, len(p))
	checkLen("AdamWStep", "v", v, len(p))
	bc1 := 1 - math.Pow(float64(hp.Beta1), float64(step))
	bc2 := 1 - math.Pow(float64(hp.Beta2), float64(step))
	stepSize := float32(float64(hp.LR) / bc1)
	bc2Sqrt := float32(math.Sqrt(bc2))
	decay := 1 - hp.LR*hp.WeightDecay
	b1, b2 := hp.Beta1, hp.Beta2
	ParallelFor(len(p), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			gi := g[i]
			p[i] *= decay
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
			denom := float32(math.Sqrt(float64(v[i])))/bc2Sqrt + hp.Eps
			p[i] -= stepSize * m[i] / denom
		}
	})
}
