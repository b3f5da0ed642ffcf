package kernels

import "testing"

func TestAddBias(t *testing.T) {
	rng := rkRNG(31)
	for _, cols := range rkSizes {
		for _, rows := range []int{1, 3, 700} { // 700 rows runs in parallel
			y, b := rkRand(rng, rows*cols, 2), rkRand(rng, cols, 2)
			want := rk64(y)
			for i := range want {
				want[i] += float64(b[i%cols])
			}
			AddBias(y, b, rows, cols)
			rkClose(t, "AddBias", y, want, 1e-7, 1e-30)
		}
	}
}

func TestBiasBackward(t *testing.T) {
	rng := rkRNG(32)
	for _, cols := range rkSizes {
		for _, rows := range []int{1, 3, 700} {
			x, b, w := rkRand(rng, rows*cols, 2), rkRand(rng, cols, 2), rkRand(rng, rows*cols, 1)
			// L = Σ w⊙(x + b broadcast over rows): dL/db is BiasBackward(w).
			db0 := rkRand(rng, cols, 1)
			db := append([]float32(nil), db0...)
			BiasBackward(db, w, rows, cols)
			if rows <= 3 {
				num := rkNumGrad(func(b []float64) float64 {
					var s float64
					for i, v := range x {
						s += float64(w[i]) * (float64(v) + b[i%cols])
					}
					return s
				}, rk64(b))
				rkClose(t, "db", rkGradOf(db, db0), num, rkGradTol, rkGradFloor)
			}
			want := make([]float64, cols)
			for i, v := range w {
				want[i%cols] += float64(v)
			}
			rkClose(t, "db sums", rkGradOf(db, db0), want, 1e-5, 1e-2)
		}
	}
}

func TestAddAddToScale(t *testing.T) {
	rng := rkRNG(33)
	for _, n := range append(rkSizes, 100000) { // the last runs in parallel
		a, b := rkRand(rng, n, 2), rkRand(rng, n, 2)
		sum := make([]float64, n)
		for i := range sum {
			sum[i] = float64(a[i]) + float64(b[i])
		}
		y := make([]float32, n)
		Add(y, a, b)
		rkClose(t, "Add", y, sum, 1e-7, 1e-30)
		ab := append([]float32(nil), a...)
		Add(ab, ab, b) // y aliasing a
		if !rkBitsEqual(ab, y) {
			t.Error("Add in place differs")
		}
		acc := append([]float32(nil), a...)
		AddTo(acc, b)
		if !rkBitsEqual(acc, y) {
			t.Error("AddTo differs from Add")
		}
		Scale(acc, -0.5)
		for i := range sum {
			sum[i] *= -0.5
		}
		rkClose(t, "Scale", acc, sum, 1e-7, 1e-30)
		Zero(acc)
		for _, v := range acc {
			if v != 0 {
				t.Fatal("Zero left a non-zero")
			}
		}
	}
}

func TestElementwisePanics(t *testing.T) {
	f := func(n int) []float32 { return make([]float32, n) }
	rkPanics(t, "AddBias: b", func() { AddBias(f(6), f(2), 2, 3) })
	rkPanics(t, "BiasBackward: dy", func() { BiasBackward(f(3), f(5), 2, 3) })
	rkPanics(t, "Add: b", func() { Add(f(3), f(3), f(2)) })
	rkPanics(t, "AddTo: x", func() { AddTo(f(3), f(2)) })
}

func BenchmarkAddBias(b *testing.B) {
	y, bias := rkRand(rkRNG(1), benchTokens*benchMLP, 1), rkRand(rkRNG(2), benchMLP, 1e-6)
	for b.Loop() {
		AddBias(y, bias, benchTokens, benchMLP)
	}
	rkPerElem(b, len(y))
}

func BenchmarkBiasBackward(b *testing.B) {
	dy, db := rkRand(rkRNG(1), benchTokens*benchMLP, 1), make([]float32, benchMLP)
	for b.Loop() {
		BiasBackward(db, dy, benchTokens, benchMLP)
	}
	rkPerElem(b, len(dy))
}

func BenchmarkAdd(b *testing.B) {
	x, r := rkRand(rkRNG(1), benchTokens*benchHidden, 1), rkRand(rkRNG(2), benchTokens*benchHidden, 1)
	y := make([]float32, len(x))
	for b.Loop() {
		Add(y, x, r)
	}
	rkPerElem(b, len(x))
}

func BenchmarkAddTo(b *testing.B) {
	x, y := rkRand(rkRNG(1), benchTokens*benchHidden, 1), make([]float32, benchTokens*benchHidden)
	for b.Loop() {
		AddTo(y, x)
	}
	rkPerElem(b, len(x))
}
