package kernels

import "math"

// LayerNormForward normalises each row of x over its cols elements:
// y = (x − mean)·rstd·w + b with rstd = 1/sqrt(var + eps) (biased variance,
// as torch.nn.LayerNorm). It stores mean and rstd per row for the backward.
// w and b may be nil (no affine).
func LayerNormForward(y, mean, rstd, x, w, b []float32, rows, cols int, eps float32) {
	checkLen("LayerNormForward", "x", x, rows*cols)
	checkLen("LayerNormForward", "y", y, rows*cols)
	checkLen("LayerNormForward", "mean", mean, rows)
	checkLen("LayerNormForward", "rstd", rstd, rows)
	ParallelFor(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
			var s float64
			for _, v := range xr {
				s += float64(v)
			}
			m := float32(s / float64(cols))
			var v2 float64
			for _, v := range xr {
				d := float64(v - m)
				v2 += d * d
			}
			rs := float32(1 / math.Sqrt(v2/float64(cols)+float64(eps)))
			for j, v := range xr {
				n := (v - m) * rs
				if w != nil {
					n *= w[j]
				}
				if b != nil {
					n += b[j]
				}
				yr[j] = n
			}
			mean[r], rstd[r] = m, rs
		}
	})
}

// LayerNormBackward adds the gradients of LayerNormForward into dx, dw and db
// (any may be nil to skip it). w may be nil (no affine).
func LayerNormBackward(dx, dw, db, dy, x, w, mean, rstd []float32, rows, cols int) {
	checkLen("LayerNormBackward", "x", x, rows*cols)
	checkLen("LayerNormBackward", "dy", dy, rows*cols)
	if dx != nil {
		checkLen("LayerNormBackward", "dx", dx, rows*cols)
		ParallelFor(rows, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				xr, dyr, dxr := x[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], dx[r*cols:(r+1)*cols]
				m, rs := mean[r], rstd[r]
				// dnorm = dy·w; dx = rstd·(dnorm − mean(dnorm) − xhat·mean(dnorm·xhat))
				var sum1, sum2 float32
				for j := range xr {
					dn := dyr[j]
					if w != nil {
						dn *= w[j]
					}
					sum1 += dn
					sum2 += dn * (xr[j] - m) * rs
				}
				sum1 /= float32(cols)
				sum2 /= float32(cols)
				for j := range xr {
					dn := dyr[j]
					if w != nil {
						dn *= w[j]
					}
					xh := (xr[j] - m) * rs
					dxr[j] += rs * (dn - sum1 - xh*sum2)
				}
			}
		})
	}
	if dw == nil && db == nil {
		return
	}
	// Parameter gradients reduce over rows: split columns so threads never
	// write the same element.
	ParallelFor(cols, func(lo, hi int) {
		for r := 0; r < rows; r++ {
			xr, dyr := x[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols]
			m, rs := mean[r], rstd[r]
			for j := lo; j < hi; j++ {
				if dw != nil {
					dw[j] += dyr[j] * (xr[j] - m) * rs
				}
				if db != nil {
					db[j] += dyr[j]
				}
			}
		}
	})
}
