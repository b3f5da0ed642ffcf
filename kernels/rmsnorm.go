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
				for j, v := range dyr {
					cdw[j] += v * xr[j] * rs
				}
			}
		}
	})
	for c := 1; c < chunks && part != nil; c++ {
		addRowVec(dw, dw, part[(c-1)*cols:c*cols])
	}
}

// rmsNormRowVec sets y = w ⊙ x·rs. It is the dispatch point for a vector
// version (none yet: the loop is one multiply pair per element and memory
// bound at these sizes).
func rmsNormRowVec(y, x, w []float32, rs float32) { rmsNormRow(y, x, w, rs) }

func rmsNormRow(y, x, w []float32, rs float32) {
	y, w = y[:len(x)], w[:len(x)]
	for j, v := range x {
		y[j] = w[j] * (v * rs)
	}
}

// rmsNormBackwardRowVec adds rs·(g − x·rs²·mean(g⊙x)), g = dy⊙w, into dx
// (the dispatch point for a vector version, as rmsNormRowVec).
func rmsNormBackwardRowVec(dx, dy, x, w []float32, rs float32) { rmsNormBackwardRow(dx, dy, x, w, rs) }

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
