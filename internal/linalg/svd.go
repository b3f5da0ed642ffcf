package linalg

import (
	"math"
	"sort"
)

// SVD is a thin singular value decomposition a = U·diag(S)·Vt of an m×n
// matrix: U is m×k, S has k values in descending order, Vt is k×n, with
// k = min(m, n); U's and Vt's rows (for Vt) and columns (for U) are
// orthonormal.
type SVD struct {
	U  *Dense
	S  []float64
	Vt *Dense
}

// maxSweeps bounds the Jacobi iteration; well-conditioned and
// rank-deficient matrices alike converge in well under 20.
const maxSweeps = 60

// Decompose computes the thin SVD of a by one-sided Jacobi rotations
// (Hestenes): the columns of a are rotated in pairs until all are mutually
// orthogonal; their norms are the singular values. It is slower than
// LAPACK's divide and conquer (O(m·n²) per sweep, some 6-10 sweeps) but
// simple and accurate to a few ulps of the largest singular value.
//
// Singular vectors are unique only up to the sign of each (u_i, v_i) pair
// (and to rotations within a repeated singular value): they agree with
// torch.linalg.svd's up to those signs. Vectors of zero singular values
// complete the bases.
func Decompose(a *Dense) SVD {
	if a.Rows < a.Cols { // a = (aᵀ)ᵀ = (U'SV'ᵀ)ᵀ = V'SU'ᵀ
		t := Decompose(a.T())
		return SVD{U: t.Vt.T(), S: t.S, Vt: t.U.T()}
	}
	m, n := a.Rows, a.Cols
	g := a.T()           // n rows: the columns of a, contiguous
	vt := NewDense(n, n) // rows: the columns of V
	for i := 0; i < n; i++ {
		vt.Set(i, i, 1)
	}
	const tol = 1e-15
	for sweep := 0; sweep < maxSweeps; sweep++ {
		rotated := false
		for p := 0; p < n-1; p++ {
			gp := g.Row(p)
			for q := p + 1; q < n; q++ {
				gq := g.Row(q)
				var alpha, beta, gamma float64
				for i := range gp {
					alpha += gp[i] * gp[i]
					beta += gq[i] * gq[i]
					gamma += gp[i] * gq[i]
				}
				if alpha == 0 || beta == 0 || math.Abs(gamma) <= tol*math.Sqrt(alpha*beta) {
					continue
				}
				rotated = true
				zeta := (beta - alpha) / (2 * gamma)
				t := math.Copysign(1, zeta) / (math.Abs(zeta) + math.Sqrt(1+zeta*zeta))
				c := 1 / math.Sqrt(1+t*t)
				s := c * t
				rotate(gp, gq, c, s)
				rotate(vt.Row(p), vt.Row(q), c, s)
			}
		}
		if !rotated {
			break
		}
	}
	sv := make([]float64, n)
	for j := 0; j < n; j++ {
		var s float64
		for _, v := range g.Row(j) {
			s += v * v
		}
		sv[j] = math.Sqrt(s)
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return sv[order[i]] > sv[order[j]] })
	out := SVD{U: NewDense(m, n), S: make([]float64, n), Vt: NewDense(n, n)}
	// A column whose norm is at rounding level of the largest is a zero
	// singular value: its direction is noise, so it is replaced below.
	small := 1e-13 * math.Max(sv[order[0]], math.SmallestNonzeroFloat64)
	var zero []int
	for k, j := range order {
		out.S[k] = sv[j]
		copy(out.Vt.Row(k), vt.Row(j))
		if sv[j] <= small {
			zero = append(zero, k)
			continue
		}
		for i, v := range g.Row(j) {
			out.U.Set(i, k, v/sv[j])
		}
	}
	completeColumns(out.U, zero)
	return out
}

// rotate applies the plane rotation (x, y) ← (c·x − s·y, s·x + c·y).
func rotate(x, y []float64, c, s float64) {
	for i := range x {
		xi, yi := x[i], y[i]
		x[i] = c*xi - s*yi
		y[i] = s*xi + c*yi
	}
}

// completeColumns fills columns cols of u (the others orthonormal) with
// unit vectors orthogonal to all the others, by Gram-Schmidt on the
// standard basis.
func completeColumns(u *Dense, cols []int) {
	if len(cols) == 0 {
		return
	}
	m, k := u.Rows, u.Cols
	isZero := map[int]bool{}
	for _, c := range cols {
		isZero[c] = true
	}
	var basis [][]float64
	for j := 0; j < k; j++ {
		if !isZero[j] {
			col := make([]float64, m)
			for i := range col {
				col[i] = u.At(i, j)
			}
			basis = append(basis, col)
		}
	}
	e := 0
	for _, c := range cols {
		for ; e < m; e++ {
			v := make([]float64, m)
			v[e] = 1
			for pass := 0; pass < 2; pass++ { // twice is enough (Kahan)
				for _, b := range basis {
					var d float64
					for i := range v {
						d += v[i] * b[i]
					}
					for i := range v {
						v[i] -= d * b[i]
					}
				}
			}
			var nrm float64
			for _, x := range v {
				nrm += x * x
			}
			nrm = math.Sqrt(nrm)
			if nrm < 0.5 {
				continue // e_e lies mostly in the span already
			}
			for i := range v {
				v[i] /= nrm
				u.Set(i, c, v[i])
			}
			basis = append(basis, v)
			e++
			break
		}
	}
}
