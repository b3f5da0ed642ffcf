package linalg

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randDense(rng *rand.Rand, m, n int) *Dense {
	a := NewDense(m, n)
	for i := range a.Data {
		a.Data[i] = rng.NormFloat64()
	}
	return a
}

func eye(n int) *Dense {
	d := NewDense(n, n)
	for i := 0; i < n; i++ {
		d.Set(i, i, 1)
	}
	return d
}

// orthoErr is max |QᵀQ − I| (columns of q orthonormal).
func orthoErr(q *Dense) float64 { return MaxAbsDiff(Mul(q.T(), q), eye(q.Cols)) }

func diagMul(u *Dense, s []float64, vt *Dense) *Dense {
	us := u.Clone()
	for i := 0; i < us.Rows; i++ {
		for j := 0; j < us.Cols; j++ {
			us.Data[i*us.Cols+j] *= s[j]
		}
	}
	return Mul(us, vt)
}

// TestQRMatchesTorch: torch.linalg.qr's values (float64, LAPACK geqrf +
// orgqr) for a tall, a wide and an already triangular matrix, whose
// negative diagonal LAPACK keeps (no reflection where the column is zero
// below the diagonal).
func TestQRMatchesTorch(t *testing.T) {
	a := &Dense{Rows: 4, Cols: 3, Data: []float64{2, -1, 0.5, 1, 3, -2, -4, 0.25, 1, 0.5, 2, 2}}
	for _, tc := range []struct {
		name  string
		a     *Dense
		q, r  []float64
		qc    int
		rrows int
	}{
		{"tall", a,
			[]float64{-0.4338609156373123, 0.2922541160176089, -0.24996506732730583, -0.21693045781865616, -0.7887718615098905, 0.4811806927162875, 0.8677218312746247, -0.11705877227587022, -0.10883107158335162, -0.10846522890932808, -0.527942919257616, -0.833149688790165},
			[]float64{-4.6097722286464435, -0.21693045781865616, 0.8677218312746247, 0, -3.7437202321314804, 0.550726170237483, 0, 0, -2.862474368259909}, 3, 3},
		{"wide", a.T(),
			[]float64{-0.8728715609439694, -0.48425005502640867, 0.0599760143904067, 0.4364357804719848, -0.7198311628770941, 0.5397841295136604, -0.2182178902359924, 0.4973378943514467, 0.8396642014656941},
			[]float64{-2.29128784747792, 0.8728715609439698, 3.3823772986578824, 0, 0, -3.638419332360584, 2.254380323737808, -0.6871115645644994, 0, 0, 0.7347061762824825, 2.788884669153912}, 3, 3},
		{"triangular", &Dense{Rows: 3, Cols: 3, Data: []float64{-3, 1, 2, 0, 2, 1, 0, 0, -1.5}},
			[]float64{1, 0, 0, 0, 1, 0, 0, 0, 1},
			[]float64{-3, 1, 2, 0, 2, 1, 0, 0, -1.5}, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, r := QR(tc.a)
			wq := &Dense{Rows: tc.a.Rows, Cols: tc.qc, Data: tc.q}
			wr := &Dense{Rows: tc.rrows, Cols: tc.a.Cols, Data: tc.r}
			if d := MaxAbsDiff(q, wq); d > 1e-14 {
				t.Errorf("Q differs from torch's by %g", d)
			}
			if d := MaxAbsDiff(r, wr); d > 1e-14 {
				t.Errorf("R differs from torch's by %g", d)
			}
		})
	}
}

// TestQRProperties: Q·R = A, QᵀQ = I and R upper triangular for random
// tall, square and wide matrices and a rank-deficient one.
func TestQRProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	deficient := Mul(randDense(rng, 20, 3), randDense(rng, 3, 8)) // rank 3
	for _, a := range []*Dense{randDense(rng, 30, 7), randDense(rng, 16, 16), randDense(rng, 5, 12), deficient, NewDense(4, 3)} {
		q, r := QR(a)
		k := min(a.Rows, a.Cols)
		if q.Rows != a.Rows || q.Cols != k || r.Rows != k || r.Cols != a.Cols {
			t.Fatalf("%dx%d: Q %dx%d, R %dx%d", a.Rows, a.Cols, q.Rows, q.Cols, r.Rows, r.Cols)
		}
		if d := MaxAbsDiff(Mul(q, r), a); d > 1e-13*math.Max(1, a.FrobeniusNorm()) {
			t.Errorf("%dx%d: |QR − A| = %g", a.Rows, a.Cols, d)
		}
		if e := orthoErr(q); e > 1e-14 {
			t.Errorf("%dx%d: |QᵀQ − I| = %g", a.Rows, a.Cols, e)
		}
		for i := 0; i < r.Rows; i++ {
			for j := 0; j < i; j++ {
				if r.At(i, j) != 0 {
					t.Errorf("%dx%d: R[%d,%d] = %g below the diagonal", a.Rows, a.Cols, i, j, r.At(i, j))
				}
			}
		}
	}
}

// TestSVD: U·S·Vᵀ = A to 1e-13 relative, orthonormal U and V, singular
// values descending and equal to torch.linalg.svd's, for tall, wide,
// square, rank-deficient, zero and 1×1 matrices.
func TestSVD(t *testing.T) {
	a := &Dense{Rows: 4, Cols: 3, Data: []float64{2, -1, 0.5, 1, 3, -2, -4, 0.25, 1, 0.5, 2, 2}}
	torchS := []float64{4.771461975091681, 3.781531139684795, 2.7378226494512776}
	for _, m := range []*Dense{a, a.T()} {
		d := Decompose(m)
		for i, s := range torchS {
			if math.Abs(d.S[i]-s) > 1e-14*torchS[0] {
				t.Errorf("%dx%d: S[%d] = %.17g, torch %.17g", m.Rows, m.Cols, i, d.S[i], s)
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	deficient := Mul(randDense(rng, 12, 2), randDense(rng, 2, 9))
	for _, m := range []*Dense{randDense(rng, 40, 9), randDense(rng, 9, 40), randDense(rng, 24, 24), deficient, deficient.T(), NewDense(3, 5), {Rows: 1, Cols: 1, Data: []float64{-2}}} {
		d := Decompose(m)
		k := min(m.Rows, m.Cols)
		if d.U.Rows != m.Rows || d.U.Cols != k || len(d.S) != k || d.Vt.Rows != k || d.Vt.Cols != m.Cols {
			t.Fatalf("%dx%d: shapes U %dx%d S %d Vt %dx%d", m.Rows, m.Cols, d.U.Rows, d.U.Cols, len(d.S), d.Vt.Rows, d.Vt.Cols)
		}
		if e := MaxAbsDiff(diagMul(d.U, d.S, d.Vt), m); e > 1e-13*math.Max(1, m.FrobeniusNorm()) {
			t.Errorf("%dx%d: |USVᵀ − A| = %g", m.Rows, m.Cols, e)
		}
		if e := orthoErr(d.U); e > 1e-13 {
			t.Errorf("%dx%d: |UᵀU − I| = %g", m.Rows, m.Cols, e)
		}
		if e := orthoErr(d.Vt.T()); e > 1e-13 {
			t.Errorf("%dx%d: |VᵀV − I| = %g", m.Rows, m.Cols, e)
		}
		for i := 1; i < k; i++ {
			if d.S[i] > d.S[i-1] || d.S[i] < 0 {
				t.Errorf("%dx%d: singular values not descending and non-negative: %v", m.Rows, m.Cols, d.S)
				break
			}
		}
	}
	if d := Decompose(deficient); d.S[2] > 1e-13*d.S[0] {
		t.Errorf("rank-2 matrix: third singular value %g", d.S[2])
	}
}

// TestLowRankSVD: on an exactly rank-q matrix the randomized SVD is exact;
// on a matrix with a decaying spectrum, two power iterations give the top
// singular values to 1e-6 and a residual close to the optimal one
// (Eckart-Young: the first dropped singular value).
func TestLowRankSVD(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, shape := range [][2]int{{30, 12}, {12, 30}, {20, 20}} {
		m, n := shape[0], shape[1]
		const q = 4
		exact := Mul(randDense(rng, m, q), randDense(rng, q, n))
		u, s, v := LowRankSVD(exact, q, 2, rng)
		if e := MaxAbsDiff(diagMul(u, s, v.T()), exact); e > 1e-11*exact.FrobeniusNorm() {
			t.Errorf("%dx%d rank %d: reconstruction error %g", m, n, q, e)
		}
		if e := orthoErr(u); e > 1e-12 {
			t.Errorf("%dx%d: U not orthonormal (%g)", m, n, e)
		}
		if e := orthoErr(v); e > 1e-12 {
			t.Errorf("%dx%d: V not orthonormal (%g)", m, n, e)
		}

		// Spectrum 2^-i.
		full := Decompose(randDense(rng, m, n))
		k := min(m, n)
		for i := 0; i < k; i++ {
			full.S[i] = math.Pow(2, -float64(i))
		}
		a := diagMul(full.U, full.S, full.Vt)
		u, s, v = LowRankSVD(a, q, 8, rng)
		for i := 0; i < q; i++ {
			if math.Abs(s[i]-full.S[i]) > 1e-6 {
				t.Errorf("%dx%d: σ%d = %g, exact %g", m, n, i, s[i], full.S[i])
			}
		}
		res := a.Clone()
		approx := diagMul(u, s, v.T())
		for i := range res.Data {
			res.Data[i] -= approx.Data[i]
		}
		if op := Decompose(res).S[0]; op > 1.01*full.S[q] {
			t.Errorf("%dx%d: residual norm %g, optimal %g", m, n, op, full.S[q])
		}
	}
}
