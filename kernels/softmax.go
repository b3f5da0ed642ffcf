package kernels

import "fmt"

// SoftmaxForward sets y[r] = softmax(scale·x[r]) for each of rows rows of
// length cols. With causal, row r is query position r mod cols of a square
// attention block and columns j > r mod cols get probability 0 (the -inf mask
// of decoder attention). y may alias x.
func SoftmaxForward(y, x []float32, rows, cols int, scale float32, causal bool) {
	checkLen("SoftmaxForward", "x", x, rows*cols)
	checkLen("SoftmaxForward", "y", y, rows*cols)
	parallelRows(rows, rowCost(8, asmCost)*cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
			n := cols
			if causal {
				n = r%cols + 1
			}
			softmaxRowVec(yr[:n], xr[:n], scale)
			clear(yr[n:])
		}
	})
}

// softmaxRow sets y = softmax(scale·x); len(y) ≥ len(x). The exponent
// scale·(x − pivot) is formed in float64, so a large logit spread costs no
// precision, and is ≤ 0: the pivot is the max for scale ≥ 0, the min
// otherwise.
func softmaxRow(y, x []float32, scale float32) {
	if len(x) == 0 {
		return
	}
	y = y[:len(x)]
	pivot := x[0]
	// Compare-and-branch, not max(): the branch is almost never taken, so
	// no loop-carried dependency through the running max stalls the loop.
	if scale >= 0 {
		for _, v := range x {
			if v > pivot {
				pivot = v
			}
		}
	} else {
		for _, v := range x {
			if v < pivot {
				pivot = v
			}
		}
	}
	p, s := float64(pivot), float64(scale)
	var sum float64
	for j, v := range x {
		e := fastExp(s * (float64(v) - p))
		sum += e
		y[j] = float32(e)
	}
	inv := float32(1 / sum)
	for j := range y {
		y[j] *= inv
	}
}

// SoftmaxBackward adds into dx the gradient of y = softmax(scale·x) given
// y and dy: dx += scale·y⊙(dy − Σ dy⊙y). Masked (zero-probability) entries
// get zero gradient, so it serves the causal case unchanged. A nil dx is
// skipped.
func SoftmaxBackward(dx, y, dy []float32, rows, cols int, scale float32) {
	if dx == nil {
		return
	}
	checkLen("SoftmaxBackward", "y", y, rows*cols)
	checkLen("SoftmaxBackward", "dy", dy, rows*cols)
	checkLen("SoftmaxBackward", "dx", dx, rows*cols)
	parallelRows(rows, 3*cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr, dyr, dxr := y[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], dx[r*cols:(r+1)*cols]
			softmaxBackwardRowVec(dxr, yr, dyr, scale)
		}
	})
}

func checkLen(fn, name string, s []float32, need int) {
	if len(s) < need {
		panic(fmt.Sprintf("kernels: %s: %s has %d elements, needs %d", fn, name, len(s), need))
	}
}
