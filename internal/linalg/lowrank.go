package linalg

import (
	"fmt"
	"math/rand/v2"
)

// LowRankSVD is torch.svd_lowrank(a, q, niter): an approximate rank-q SVD
// a ≈ U·diag(S)·Vᵀ by randomized subspace iteration (Halko, Martinsson and
// Tropp 2011, Algorithm 4.4 for the basis, 5.1 for the SVD). It returns U
// m×q, S (q values, descending) and V n×q, as torch does (V, not Vᵀ).
//
// The steps are torch's: a Gaussian test matrix, a QR of its image, niter
// rounds of QR(aᵀ·Q), QR(a·Q), then the exact SVD of the small projected
// matrix. Like torch it approximates aᵀ when a is wide or when n > q, which
// keeps the projected matrix small. The Gaussian draws come from rng, not
// from torch's generator, so the result is a different sample of the same
// approximation: close to the exact top-q SVD when the spectrum decays or
// niter is large, never bit-equal to torch's.
func LowRankSVD(a *Dense, q, niter int, rng *rand.Rand) (u *Dense, s []float64, v *Dense) {
	m, n := a.Rows, a.Cols
	if q <= 0 || q > min(m, n) {
		panic(fmt.Sprintf("linalg: LowRankSVD rank %d of a %dx%d matrix", q, m, n))
	}
	if m < n || n > q {
		// Basis of aᵀ's range (n×q), then the SVD of a·Q (m×q).
		bq := approximateBasis(a.T(), q, niter, rng)
		d := Decompose(Mul(a, bq))
		return d.U, d.S, Mul(bq, d.Vt.T())
	}
	bq := approximateBasis(a, q, niter, rng)
	d := Decompose(Mul(bq.T(), a))
	return Mul(bq, d.U), d.S, d.Vt.T()
}

// approximateBasis is torch's get_approximate_basis: an m×q matrix with
// orthonormal columns approximately spanning the range of a (m×n).
func approximateBasis(a *Dense, q, niter int, rng *rand.Rand) *Dense {
	r := NewDense(a.Cols, q)
	for i := range r.Data {
		r.Data[i] = rng.NormFloat64()
	}
	at := a.T()
	bq, _ := QR(Mul(a, r))
	for i := 0; i < niter; i++ {
		bq, _ = QR(Mul(at, bq))
		bq, _ = QR(Mul(a, bq))
	}
	return bq
}
