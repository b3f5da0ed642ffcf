package kernels

import (
	"fmt"
	"math"
)

// SoftmaxForward sets y[r] = softmax(scale·x[r]) for each of rows rows of
// length cols. With causal, row r is query position r mod cols of a square
// attention block and columns j > r mod cols get probability 0 (the -inf mask
// of decoder attention). y may alias x.
func SoftmaxForward(y, x []float32, rows, cols int, scale float32, causal bool) {
	checkLen("SoftmaxForward", "x", x, rows*cols)
	checkLen("SoftmaxForward", "y", y, rows*cols)
	ParallelFor(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
			n := cols
			if causal {
				n = r%cols + 1
			}
			mx := float32(math.Inf(-1))
			for _, v := range xr[:n] {
				if v > mx {
					mx = v
				}
			}
			var sum float32
			for j := 0; j < n; j++ {
				e := float32(math.Exp(float64(scale * (xr[j] - mx))))
				yr[j] = e
				sum += e
			}
			inv := 1 / sum
			for j := 0; j < n; j++ {
				yr[j] *= inv
			}
			for j := n; j < cols; j++ {
				yr[j] = 0
			}
		}
	})
}

// SoftmaxBackward adds into dx the gradient of y = softmax(scale·x) given
// y and dy: dx += scale·y⊙(dy − Σ dy⊙y). Masked (zero-probability) entries
// get zero gradient, so it serves the causal case unchanged.
func SoftmaxBackward(dx, y, dy []float32, rows, cols int, scale float32) {
	checkLen("SoftmaxBackward", "y", y, rows*cols)
	checkLen("SoftmaxBackward", "dy", dy, rows*cols)
	checkLen("SoftmaxBackward", "dx", dx, rows*cols)
	ParallelFor(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr, dyr, dxr := y[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], dx[r*cols:(r+1)*cols]
			var dot float32
			for j := range yr {
				dot += yr[j] * dyr[j]
			}
			for j := range yr {
				dxr[j] += scale * yr[j] * (dyr[j] - dot)
			}
		}
	})
}

func checkLen(fn, name string, s []float32, need int) {
	if len(s) < need {
		panic(fmt.Sprintf("kernels: %s: %s has %d elements, needs %d", fn, name, len(s), need))
	}
}
