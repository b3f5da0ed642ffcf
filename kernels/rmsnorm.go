package kernels

import "math"

// RMSNormForward normalises each row of x by its root mean square, as
// transformers' LlamaRMSNorm: y = w ⊙ x·rstd with rstd = 1/sqrt(mean(x²) +
// eps), the mean of squares summed in float64 (LlamaRMSNorm takes it in
// float32; this is at least as accurate). It stores rstd per row for the
// backward. y may alias x.
func RMSNormForward(y, rstd, x, w []float32, rows, cols int, eps float32) {
	checkLen("RMSNormForward", "x", x, rows*cols)
	checkLen("RMSNormForward", "y", y, rows*cols)
	checkLen("RMSNormForward", "rstd", rstd, rows)
	checkLen("RMSNormForward", "w", w, cols)
	w = w[:cols]
	parallelRows(rows, 3*cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*cols : (r+1)*cols]
			rs := float32(1 / math.Sqrt(sqDevRowVec(xr, 0)/float64(cols)+float64(eps)))
			rstd[r] = rs
			rmsNormRowVec(y[r*cols:(r+1)*cols], xr, w, rs)
		}
	})
}

// RMSNormBackward adds the gradients of RMSNormForward into dx and dw
// (either may be nil to skip it). With g = dy ⊙ w:
// dx = rstd·(g − x·rstd²·mean(g ⊙ x)) and dw = Σ_rows dy ⊙ x·rstd. Row
// chunks keep their own dw partials, added in chunk order, so the result
// does not depend on the thread count.
func RMSNormBackward(dx, dw, dy, x, w, rstd []float32, rows, cols int) {
	if dx == nil && dw == nil {
		return
	}
	checkLen("RMSNormBackward", "x", x, rows*cols)
	checkLen("RMSNormBackward", "dy", dy, rows*cols)
	checkLen("RMSNormBackward", "w", w, cols)
	checkLen("RMSNormBackward", "rstd", rstd, rows)
	w = w[:cols]
	if dx != nil {
		checkLen("RMSNormBackward", "dx", dx, rows*cols)
	}
	if dw != nil {
		checkLen("RMSNormBackward", "dw", dw, cols)
		dw = dw[:cols]
	}
	chunks := numChunks(rows, 5*cols)
	var part []float32 // dw partials of chunks 1.. (chunk 0 adds in place)
	if chunks > 1 && dw != nil {
		part = make([]float32, (chunks-1)*cols)
	}
	forChunks(rows, chunks, func(c, lo, hi int) {
		cdw := dw
		if c > 0 && part != nil {
			cdw = part[(c-1)*cols : c*cols]
		}
		for r := lo; r < hi; r++ {
			xr, dyr := x[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols]
			rs := rstd[r]
			if dx != nil {
				rmsNormBackwardRowVec(dx[r*cols:(r+1)*cols], dyr, xr, w, rs)
			}
			if cdw != nil {
				rmsNormParamGradRowVec(cdw, dyr, xr, rs)
			}
		}
	})
	for c := 1; c < chunks && part != nil; c++ {
		addRowVec(dw, dw, part[(c-1)*cols:c*cols])
	}
}

// The row loops below are the reference; on AVX2/FMA and AVX-512 machines
// the same formulas run in assembly (rows.go): the forward and the weight
// gradient in the same order, so with the same bits (up to the FMA in the
// weight gradient), the input gradient through LayerNorm's kernels with
// mean 0, its dot product summed in float32 lanes instead of float64.

// rmsNormRowVec sets y = w ⊙ x·rs.
func rmsNormRowVec(y, x, w []float32, rs float32) {
	n := len(x)
	switch path := activeISA(); {
	case n == 0:
	case path == isaZMM:
		rmsNormAVX512(&y[:n][0], &x[0], &w[:n][0], n, rs)
	case path == isaYMM:
		rmsNormAVX2(&y[:n][0], &x[0], &w[:n][0], n, rs)
	default:
		rmsNormRow(y, x, w, rs)
	}
}

func rmsNormRow(y, x, w []float32, rs float32) {
	y, w = y[:len(x)], w[:len(x)]
	for j, v := range x {
		y[j] = w[j] * (v * rs)
	}
}

// rmsNormBackwardRowVec adds rs·(g − x·rs²·mean(g⊙x)), g = dy⊙w, into dx:
// in assembly as LayerNorm's rs·g − c0 − c1·(x − m) with m = c0 = 0 and
// c1 = rs³·mean(g⊙x).
func rmsNormBackwardRowVec(dx, dy, x, w []float32, rs float32) {
	n := len(x)
	path := activeISA()
	if path == isaGo || n == 0 {
		rmsNormBackwardRow(dx, dy, x, w, rs)
		return
	}
	dx, dy, w = dx[:n], dy[:n], w[:n]
	var s2 float32
	if path == isaZMM {
		_, s2 = layerNormGradSumsAVX512(&dy[0], &x[0], &w[0], n, 0)
	} else {
		_, s2 = layerNormGradSumsAVX2(&dy[0], &x[0], &w[0], n, 0)
	}
	c1 := rs * rs * rs * (s2 / float32(n))
	if path == isaZMM {
		layerNormGradAVX512(&dx[0], &dy[0], &x[0], &w[0], n, 0, rs, 0, c1)
	} else {
		layerNormGradAVX2(&dx[0], &dy[0], &x[0], &w[0], n, 0, rs, 0, c1)
	}
}

func rmsNormBackwardRow(dx, dy, x, w []float32, rs float32) {
	n := len(x)
	dx, dy, w = dx[:n], dy[:n], w[:n]
	var dot float64
	for j, v := range x {
		dot += float64(dy[j]) * float64(w[j]) * float64(v)
	}
	c := rs * rs * float32(dot/float64(n))
	for j, v := range x {
		dx[j] += rs * (dy[j]*w[j] - v*c)
	}
}

// rmsNormParamGradRowVec adds dy⊙x·rs into dw.
func rmsNormParamGradRowVec(dw, dy, x []float32, rs float32) {
	n := len(dy)
	switch path := activeISA(); {
	case n == 0:
	case path == isaZMM:
		rmsNormParamGradAVX512(&dw[:n][0], &dy[0], &x[:n][0], n, rs)
	case path == isaYMM:
		rmsNormParamGradAVX2(&dw[:n][0], &dy[0], &x[:n][0], n, rs)
	default:
		rmsNormParamGradRow(dw, dy, x, rs)
	}
}

func rmsNormParamGradRow(dw, dy, x []float32, rs float32) {
	dw, x = dw[:len(dy)], x[:len(dy)]
	for j, v := range dy {
		dw[j] += v * x[j] * rs
	}
}
