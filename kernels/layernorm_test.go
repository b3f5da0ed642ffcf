package kernels

import (
	"math"
	"testing"
)

// layerNormRef64 is the plain float64 LayerNorm; w, b may be nil.
func layerNormRef64(x, w, b []float64, rows, cols int, eps float64) (y, mean, rstd []float64) {
	y, mean, rstd = make([]float64, rows*cols), make([]float64, rows), make([]float64, rows)
	for r := 0; r < rows; r++ {
		xr := x[r*cols : (r+1)*cols]
		var m, v float64
		for _, e := range xr {
			m += e
		}
		m /= float64(cols)
		for _, e := range xr {
			v += (e - m) * (e - m)
		}
		v /= float64(cols)
		rs := 1 / math.Sqrt(v+eps)
		for j, e := range xr {
			o := (e - m) * rs
			if w != nil {
				o *= w[j]
			}
			if b != nil {
				o += b[j]
			}
			y[r*cols+j] = o
		}
		mean[r], rstd[r] = m, rs
	}
	return y, mean, rstd
}

// layerNormBackwardRef64 is the textbook backward in float64 (checked
// against finite differences in TestLayerNormBackward), used as the oracle
// for sizes too large for finite differences.
func layerNormBackwardRef64(dy, x, w []float64, rows, cols int, eps float64) (dx, dw, db []float64) {
	_, mean, rstd := layerNormRef64(x, nil, nil, rows, cols, eps)
	dx, dw, db = make([]float64, rows*cols), make([]float64, cols), make([]float64, cols)
	for r := 0; r < rows; r++ {
		var s1, s2 float64
		for j := 0; j < cols; j++ {
			xh := (x[r*cols+j] - mean[r]) * rstd[r]
			g := dy[r*cols+j]
			dw[j] += g * xh
			db[j] += g
			if w != nil {
				g *= w[j]
			}
			s1 += g
			s2 += g * xh
		}
		for j := 0; j < cols; j++ {
			xh := (x[r*cols+j] - mean[r]) * rstd[r]
			g := dy[r*cols+j]
			if w != nil {
				g *= w[j]
			}
			dx[r*cols+j] = rstd[r] * (g - s1/float64(cols) - xh*s2/float64(cols))
		}
	}
	return dx, dw, db
}

func TestLayerNormForward(t *testing.T) {
	rng := rkRNG(11)
	for _, cols := range append(rkSizes, 192) {
		for _, affine := range []bool{false, true} {
			for _, eps := range []float32{1e-5, 1e-12, 0.1} {
				const rows = 5
				x := rkRand(rng, rows*cols, 3)
				var w, b []float32
				if affine {
					w, b = rkRand(rng, cols, 2), rkRand(rng, cols, 1)
				}
				y, mean, rstd := make([]float32, rows*cols), make([]float32, rows), make([]float32, rows)
				LayerNormForward(y, mean, rstd, x, w, b, rows, cols, eps)
				wy, wm, wr := layerNormRef64(rk64(x), rk64(w), rk64(b), rows, cols, float64(eps))
				rkClose(t, "y", y, wy, 1e-5, 1e-2)
				rkClose(t, "rstd", rstd, wr, 1e-5, 0)
				// The mean is judged on the scale of the values it averages.
				for r, m := range mean {
					if math.Abs(float64(m)-wm[r]) > 1e-6*3 {
						t.Errorf("mean[%d] = %.9g, want %.9g", r, m, wm[r])
					}
				}
			}
		}
	}
}

func TestLayerNormForwardHard(t *testing.T) {
	const rows, cols = 3, 65
	rng := rkRNG(12)
	for _, c := range []struct {
		name           string
		offset, spread float64
	}{
		{"large mean", 1000, 1},  // E[x²]−E[x]² would cancel to noise
		{"constant rows", 7, 0},  // zero variance: y = b exactly
		{"tiny values", 0, 1e-6}, // variance far below eps
	} {
		x := rkRand(rng, rows*cols, c.spread)
		for i := range x {
			x[i] += float32(c.offset)
		}
		w, b := rkRand(rng, cols, 2), rkRand(rng, cols, 1)
		y, mean, rstd := make([]float32, rows*cols), make([]float32, rows), make([]float32, rows)
		LayerNormForward(y, mean, rstd, x, w, b, rows, cols, 1e-5)
		wy, _, wr := layerNormRef64(rk64(x), rk64(w), rk64(b), rows, cols, 1e-5)
		// The float32 mean itself is only good to half an ulp (3e-5 at
		// 1000), which shifts every y by that times rstd: judge y on the
		// output's scale, at twice that limit.
		rkClose(t, c.name+" y", y, wy, 4e-5, 1)
		rkClose(t, c.name+" rstd", rstd, wr, 1e-5, 0)
	}
}

func TestLayerNormAlias(t *testing.T) {
	const rows, cols = 4, 17
	x := rkRand(rkRNG(13), rows*cols, 3)
	w, b := rkRand(rkRNG(14), cols, 2), rkRand(rkRNG(15), cols, 1)
	want, _, _ := layerNormRef64(rk64(x), rk64(w), rk64(b), rows, cols, 1e-5)
	mean, rstd := make([]float32, rows), make([]float32, rows)
	LayerNormForward(x, mean, rstd, x, w, b, rows, cols, 1e-5)
	rkClose(t, "in place", x, want, 1e-5, 1e-3)
}

func TestLayerNormBackward(t *testing.T) {
	rng := rkRNG(16)
	const eps = 1e-5
	for _, cols := range rkSizes {
		for _, affine := range []bool{false, true} {
			const rows = 3
			x, g := rkRand(rng, rows*cols, 2), rkRand(rng, rows*cols, 1)
			w64, b64 := []float64(nil), []float64(nil)
			var w, b []float32
			if affine {
				w, b = rkRand(rng, cols, 2), rkRand(rng, cols, 1)
				w64, b64 = rk64(w), rk64(b)
			}
			y, mean, rstd := make([]float32, rows*cols), make([]float32, rows), make([]float32, rows)
			LayerNormForward(y, mean, rstd, x, w, b, rows, cols, eps)
			dx0, dw0, db0 := rkRand(rng, rows*cols, 1), rkRand(rng, cols, 1), rkRand(rng, cols, 1)
			dx, dw, db := append([]float32(nil), dx0...), append([]float32(nil), dw0...), append([]float32(nil), db0...)
			LayerNormBackward(dx, dw, db, g, x, w, mean, rstd, rows, cols)

			loss := func(x, w, b []float64) float64 {
				y, _, _ := layerNormRef64(x, w, b, rows, cols, eps)
				return rkDot(g, y)
			}
			numX := rkNumGrad(func(v []float64) float64 { return loss(v, w64, b64) }, rk64(x))
			rkClose(t, "dx", rkGradOf(dx, dx0), numX, rkGradTol, rkGradFloor)
			// dw and db are the gradients of the affine parameters; without
			// affine they are those of w = 1, b = 0.
			ones, zeros := make([]float64, cols), make([]float64, cols)
			for j := range ones {
				ones[j] = 1
			}
			wAt, bAt := ones, zeros
			if affine {
				wAt, bAt = w64, b64
			}
			numW := rkNumGrad(func(v []float64) float64 { return loss(rk64(x), v, bAt) }, wAt)
			numB := rkNumGrad(func(v []float64) float64 { return loss(rk64(x), wAt, v) }, bAt)
			rkClose(t, "dw", rkGradOf(dw, dw0), numW, rkGradTol, rkGradFloor)
			rkClose(t, "db", rkGradOf(db, db0), numB, rkGradTol, rkGradFloor)

			// The float64 oracle for large sizes agrees with the differences.
			rdx, _, _ := layerNormBackwardRef64(rk64(g), rk64(x), w64, rows, cols, eps)
			rkClose(t, "ref dx", float32s(rdx), numX, rkGradTol, rkGradFloor)

			// Nil outputs are skipped; the others come out the same.
			dwOnly := append([]float32(nil), dw0...)
			LayerNormBackward(nil, dwOnly, nil, g, x, w, mean, rstd, rows, cols)
			rkClose(t, "dw alone", rkGradOf(dwOnly, dw0), numW, rkGradTol, rkGradFloor)
			dxOnly := append([]float32(nil), dx0...)
			LayerNormBackward(dxOnly, nil, nil, g, x, w, mean, rstd, rows, cols)
			if !rkBitsEqual(dxOnly, dx) {
				t.Errorf("cols %d: dx alone differs from dx with dw, db", cols)
			}
			LayerNormBackward(nil, nil, nil, g, x, w, mean, rstd, rows, cols)
		}
	}
}

func float32s(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

func TestLayerNormBackwardLarge(t *testing.T) {
	// Large enough for several row chunks with their own dw/db partials.
	const rows, cols, eps = 300, 192, 1e-5
	rng := rkRNG(17)
	x, g := rkRand(rng, rows*cols, 2), rkRand(rng, rows*cols, 1)
	w, b := rkRand(rng, cols, 2), rkRand(rng, cols, 1)
	if numChunks(rows, 6*cols) < 2 {
		t.Fatal("test too small to exercise chunking")
	}
	run := func() (dx, dw, db []float32) {
		y, mean, rstd := make([]float32, rows*cols), make([]float32, rows), make([]float32, rows)
		LayerNormForward(y, mean, rstd, x, w, b, rows, cols, eps)
		dx, dw, db = make([]float32, rows*cols), make([]float32, cols), make([]float32, cols)
		LayerNormBackward(dx, dw, db, g, x, w, mean, rstd, rows, cols)
		return
	}
	var dx1, dw1, db1, dx4, dw4, db4 []float32
	rkThreads(1, func() { dx1, dw1, db1 = run() })
	rkThreads(4, func() { dx4, dw4, db4 = run() })
	if !rkBitsEqual(dx1, dx4) || !rkBitsEqual(dw1, dw4) || !rkBitsEqual(db1, db4) {
		t.Error("results depend on the thread count")
	}
	rdx, rdw, rdb := layerNormBackwardRef64(rk64(g), rk64(x), rk64(w), rows, cols, eps)
	rkClose(t, "dx", dx4, rdx, 1e-4, 1e-2)
	rkClose(t, "dw", dw4, rdw, 1e-4, 1e-2)
	rkClose(t, "db", db4, rdb, 1e-4, 1e-2)
}

func TestLayerNormPanics(t *testing.T) {
	f := func(n int) []float32 { return make([]float32, n) }
	rkPanics(t, "LayerNormForward: rstd", func() { LayerNormForward(f(6), f(2), f(1), f(6), nil, nil, 2, 3, 1e-5) })
	rkPanics(t, "LayerNormForward: w", func() { LayerNormForward(f(6), f(2), f(2), f(6), f(2), nil, 2, 3, 1e-5) })
	rkPanics(t, "LayerNormBackward: dw", func() {
		LayerNormBackward(nil, f(2), nil, f(6), f(6), nil, f(2), f(2), 2, 3)
	})
}

// ViT-Tiny token rows: batch 8 × 197 tokens, hidden 192.
const benchTokens, benchHidden, benchMLP = 8 * 197, 192, 768

func BenchmarkLayerNormForward(b *testing.B) {
	x := rkRand(rkRNG(1), benchTokens*benchHidden, 2)
	w, bb := rkRand(rkRNG(2), benchHidden, 1), rkRand(rkRNG(3), benchHidden, 1)
	y, mean, rstd := make([]float32, len(x)), make([]float32, benchTokens), make([]float32, benchTokens)
	for b.Loop() {
		LayerNormForward(y, mean, rstd, x, w, bb, benchTokens, benchHidden, 1e-12)
	}
	rkPerElem(b, len(x))
}

func BenchmarkLayerNormBackward(b *testing.B) {
	x, dy := rkRand(rkRNG(1), benchTokens*benchHidden, 2), rkRand(rkRNG(4), benchTokens*benchHidden, 2)
	w, bb := rkRand(rkRNG(2), benchHidden, 1), rkRand(rkRNG(3), benchHidden, 1)
	y, mean, rstd := make([]float32, len(x)), make([]float32, benchTokens), make([]float32, benchTokens)
	LayerNormForward(y, mean, rstd, x, w, bb, benchTokens, benchHidden, 1e-12)
	dx, dw, db := make([]float32, len(x)), make([]float32, benchHidden), make([]float32, benchHidden)
	b.Run("frozen", func(b *testing.B) { // LoRA: dx only
		for b.Loop() {
			LayerNormBackward(dx, nil, nil, dy, x, w, mean, rstd, benchTokens, benchHidden)
		}
		rkPerElem(b, len(x))
	})
	b.Run("trainable", func(b *testing.B) {
		for b.Loop() {
			LayerNormBackward(dx, dw, db, dy, x, w, mean, rstd, benchTokens, benchHidden)
		}
		rkPerElem(b, len(x))
	})
}
