package kernels

import "math"

// SoftmaxAttention sets each row of y to softmax(scale·x) over the keys the
// row may attend to, and 0 elsewhere: the masked softmax of attention
// scores. There are rows rows of cols keys; row r is query q = r mod tq of
// block g = r / tq (one block per sequence and head).
//
// With causal, query q is token cols − tq + q of a sequence whose first
// cols tokens are the keys (tq = cols in training; with a KV cache the
// queries are the last tq tokens), and keys after it are masked. With keep
// non-nil, key j of block g is masked where keep[(g/per)·cols + j] == 0
// (the attention mask of padding; per is the number of blocks, i.e. heads,
// per sequence). A row with no key left is all zeros. y may alias x.
func SoftmaxAttention(y, x []float32, rows, cols, tq int, scale float32, causal bool, keep []int32, per int) {
	checkLen("SoftmaxAttention", "x", x, rows*cols)
	checkLen("SoftmaxAttention", "y", y, rows*cols)
	if tq < 1 || tq > cols || rows%tq != 0 {
		panic("kernels: SoftmaxAttention: rows must be a multiple of tq ≤ cols")
	}
	if keep != nil {
		if per < 1 {
			panic("kernels: SoftmaxAttention: per must be positive with a mask")
		}
		if need := (rows/tq + per - 1) / per * cols; len(keep) < need {
			panic("kernels: SoftmaxAttention: keep is shorter than the sequences' keys")
		}
	}
	spans := keepSpans(keep, rows/tq, per, cols)
	neg := float32(math.Inf(-1))
	parallelRows(rows, rowCost(8, asmCost)*cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
			n := cols
			if causal {
				n = cols - tq + r%tq + 1
			}
			if keep == nil {
				softmaxRowVec(yr[:n], xr[:n], scale)
				clear(yr[n:])
				continue
			}
			if sp := spans[r/tq/per]; sp.lo >= 0 { // padding only before or after the tokens
				lo, hi := sp.lo, min(sp.hi, n)
				if lo >= hi {
					clear(yr)
					continue
				}
				softmaxRowVec(yr[lo:hi], xr[lo:hi], scale)
				clear(yr[:lo])
				clear(yr[hi:])
				continue
			}
			km := keep[(r/tq/per)*cols:][:n]
			if &yr[0] != &xr[0] {
				copy(yr[:n], xr[:n])
			}
			allowed := 0
			for j, k := range km {
				if k == 0 {
					yr[j] = neg // e^−∞ = 0, in both the Go and the assembly softmax
				} else {
					allowed++
				}
			}
			if allowed == 0 {
				clear(yr)
				continue
			}
			softmaxRowVec(yr[:n], yr[:n], scale)
			clear(yr[n:])
		}
	})
}

// keepSpan is where a sequence's keep mask is 1: keys [lo, hi), all the
// others 0; lo = −1 when its ones are not one run.
type keepSpan struct{ lo, hi int }

// keepSpans returns the keepSpan of each sequence of keep (nil without a
// mask). A padded batch, padded on the right (training) or the left
// (generation), has one run per sequence, and then a row's softmax runs
// over its run of keys like an unmasked one, at the same cost: the planner
// times attention's softmax unmasked. (Summing from key lo rather than 0
// changes which lanes add which terms: the same values up to rounding as
// the masking loop, which the other masks keep.)
func keepSpans(keep []int32, blocks, per, cols int) []keepSpan {
	if keep == nil {
		return nil
	}
	spans := make([]keepSpan, (blocks+per-1)/per)
	for s := range spans {
		km := keep[s*cols : (s+1)*cols]
		lo := 0
		for lo < cols && km[lo] == 0 {
			lo++
		}
		hi := lo
		for hi < cols && km[hi] != 0 {
			hi++
		}
		rest := hi
		for rest < cols && km[rest] == 0 {
			rest++
		}
		if rest < cols {
			lo = -1 // a hole: more than one run
		}
		spans[s] = keepSpan{lo, hi}
	}
	return spans
}
