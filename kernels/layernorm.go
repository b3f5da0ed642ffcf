package kernels

import "math"

// LayerNormForward normalises each row of x over its cols elements:
// y = (x − mean)·rstd·w + b with rstd = 1/sqrt(var + eps) (biased variance,
// as torch.nn.LayerNorm). It stores mean and rstd per row for the backward.
// w and b may be nil (no affine). y may alias x.
func LayerNormForward(y, mean, rstd, x, w, b []float32, rows, cols int, eps float32) {
	checkLen("LayerNormForward", "x", x, rows*cols)
	checkLen("LayerNormForward", "y", y, rows*cols)
	checkLen("LayerNormForward", "mean", mean, rows)
	checkLen("LayerNormForward", "rstd", rstd, rows)
	if w != nil {
		checkLen("LayerNormForward", "w", w, cols)
	}
	if b != nil {
		checkLen("LayerNormForward", "b", b, cols)
	}
	parallelRows(rows, 4*cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
			// Two passes (mean, then squared deviations) rather than
			// E[x²]−E[x]², which cancels catastrophically when |mean| ≫ std.
			m := float32(sumRowVec(xr) / float64(cols))
			v := sqDevRowVec(xr, m) / float64(cols)
			rs := float32(1 / math.Sqrt(v+float64(eps)))
			mean[r], rstd[r] = m, rs
			layerNormRowVec(yr, xr, w, b, m, rs)
		}
	})
}

// layerNormRow sets y = (x − m)·rs·w + b, w and b optional.
func layerNormRow(y, x, w, b []float32, m, rs float32) {
	y = y[:len(x)]
	if w != nil && b != nil {
		w, b = w[:len(x)], b[:len(x)]
		for j, v := range x {
			y[j] = (v-m)*rs*w[j] + b[j]
		}
		return
	}
	for j, v := range x {
		n := (v - m) * rs
		if w != nil {
			n *= w[j]
		}
		if b != nil {
			n += b[j]
		}
		y[j] = n
	}
}

// LayerNormBackward adds the gradients of LayerNormForward into dx, dw and db
// (any may be nil to skip it). w may be nil (no affine).
//
// With xhat = (x − mean)·rstd and g = dy·w:
// dx = rstd·(g − mean(g) − xhat·mean(g·xhat)), dw = Σ_rows dy·xhat,
// db = Σ_rows dy. One sweep over the rows computes all three: row chunks keep
// their own dw/db partials, added in chunk order at the end.
func LayerNormBackward(dx, dw, db, dy, x, w, mean, rstd []float32, rows, cols int) {
	checkLen("LayerNormBackward", "x", x, rows*cols)
	checkLen("LayerNormBackward", "dy", dy, rows*cols)
	checkLen("LayerNormBackward", "mean", mean, rows)
	checkLen("LayerNormBackward", "rstd", rstd, rows)
	if w != nil {
		checkLen("LayerNormBackward", "w", w, cols)
		w = w[:cols]
	}
	if dx != nil {
		checkLen("LayerNormBackward", "dx", dx, rows*cols)
	}
	if dw != nil {
		checkLen("LayerNormBackward", "dw", dw, cols)
		dw = dw[:cols]
	}
	if db != nil {
		checkLen("LayerNormBackward", "db", db, cols)
		db = db[:cols]
	}
	if dx == nil && dw == nil && db == nil {
		return
	}
	chunks := numChunks(rows, 6*cols)
	var part []float32 // dw then db partials of chunks 1.. (chunk 0 adds in place)
	if chunks > 1 && (dw != nil || db != nil) {
		part = make([]float32, (chunks-1)*2*cols)
	}
	forChunks(rows, chunks, func(c, lo, hi int) {
		cdw, cdb := dw, db
		if c > 0 && part != nil {
			p := part[(c-1)*2*cols : c*2*cols]
			if dw != nil {
				cdw = p[:cols]
			}
			if db != nil {
				cdb = p[cols:]
			}
		}
		for r := lo; r < hi; r++ {
			xr, dyr := x[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols]
			m, rs := mean[r], rstd[r]
			if dx != nil {
				layerNormBackwardRowVec(dx[r*cols:(r+1)*cols], dyr, xr, w, m, rs)
			}
			layerNormParamGradRowVec(cdw, cdb, dyr, xr, m, rs)
		}
	})
	for c := 1; c < chunks && part != nil; c++ {
		p := part[(c-1)*2*cols : c*2*cols]
		if dw != nil {
			for j, v := range p[:cols] {
				dw[j] += v
			}
		}
		if db != nil {
			for j, v := range p[cols:] {
				db[j] += v
			}
		}
	}
}

// layerNormBackwardRow adds one row's input gradient into dx.
func layerNormBackwardRow(dx, dy, x, w []float32, m, rs float32) {
	n := len(x)
	dx, dy = dx[:n], dy[:n]
	if w != nil {
		w = w[:n]
	}
	// g = dy·w; s1 = Σ g, s2 = Σ g·(x − m) (the xhat sum is rs·s2).
	var s1, s2 float32
	for j, v := range x {
		g := dy[j]
		if w != nil {
			g *= w[j]
		}
		s1 += g
		s2 += g * (v - m)
	}
	inv := 1 / float32(n)
	c0 := rs * (s1 * inv)           // rstd·mean(g)
	c1 := rs * rs * rs * (s2 * inv) // rstd·mean(g·xhat)·rstd, applied to x − m
	// g is formed exactly as in the sums, so a one-element row gets exactly 0.
	for j, v := range x {
		g := dy[j]
		if w != nil {
			g *= w[j]
		}
		dx[j] += rs*g - c0 - c1*(v-m)
	}
}

// layerNormParamGradRow adds one row's dy·xhat into dw and dy into db (either
// may be nil).
func layerNormParamGradRow(dw, db, dy, x []float32, m, rs float32) {
	x = x[:len(dy)]
	if dw != nil {
		dw = dw[:len(dy)]
		for j, g := range dy {
			dw[j] += g * (x[j] - m) * rs
		}
	}
	if db != nil {
		db = db[:len(dy)]
		for j, g := range dy {
			db[j] += g
		}
	}
}
