package linalg

import "math"

// QR returns the reduced QR decomposition a = q·r of an m×n matrix: q is
// m×k with orthonormal columns and r is k×n upper triangular, k = min(m, n).
//
// It is Householder QR as LAPACK's geqrf/orgqr compute it, which is what
// torch.linalg.qr returns: reflector j maps column j below the diagonal to
// β·e_j with β = −sign(α)·‖(α, x)‖ (α the diagonal element), and a column
// that is already zero below the diagonal is left alone (τ = 0). So r's
// diagonal has the sign LAPACK gives it, and q and r agree with torch's up
// to rounding, not just up to column signs.
func QR(a *Dense) (q, r *Dense) {
	m, n := a.Rows, a.Cols
	k := min(m, n)
	w := a.Clone()
	taus := make([]float64, k)
	vs := make([][]float64, k) // v_j[0] = 1, stored from row j
	for j := 0; j < k; j++ {
		alpha := w.At(j, j)
		var xnorm float64
		for i := j + 1; i < m; i++ {
			xnorm = math.Hypot(xnorm, w.At(i, j))
		}
		v := make([]float64, m-j)
		v[0] = 1
		if xnorm == 0 {
			vs[j] = v // τ = 0: H = I
			continue
		}
		beta := -math.Copysign(math.Hypot(alpha, xnorm), alpha)
		tau := (beta - alpha) / beta
		scale := 1 / (alpha - beta)
		for i := j + 1; i < m; i++ {
			v[i-j] = w.At(i, j) * scale
			w.Set(i, j, 0)
		}
		w.Set(j, j, beta)
		taus[j], vs[j] = tau, v
		// Apply H = I − τ·v·vᵀ to the trailing columns.
		for c := j + 1; c < n; c++ {
			var s float64
			for i := j; i < m; i++ {
				s += v[i-j] * w.At(i, c)
			}
			s *= tau
			for i := j; i < m; i++ {
				w.Data[i*n+c] -= s * v[i-j]
			}
		}
	}
	r = NewDense(k, n)
	for i := 0; i < k; i++ {
		for j := i; j < n; j++ {
			r.Set(i, j, w.At(i, j))
		}
	}
	// q = H_0·H_1·…·H_{k−1}·I[:, :k], accumulated backwards (orgqr).
	q = NewDense(m, k)
	for i := 0; i < k; i++ {
		q.Set(i, i, 1)
	}
	for j := k - 1; j >= 0; j-- {
		tau, v := taus[j], vs[j]
		if tau == 0 {
			continue
		}
		for c := j; c < k; c++ {
			var s float64
			for i := j; i < m; i++ {
				s += v[i-j] * q.At(i, c)
			}
			s *= tau
			for i := j; i < m; i++ {
				q.Data[i*k+c] -= s * v[i-j]
			}
		}
	}
	return q, r
}
