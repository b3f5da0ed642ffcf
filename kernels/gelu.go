package kernels

import "math"

// GELUForward sets y = x·Φ(x), the exact erf form (Hugging Face "gelu").
// y may alias x.
func GELUForward(y, x []float32) {
	checkLen("GELUForward", "y", y, len(x))
	ParallelFor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(x[i])
			y[i] = float32(0.5 * v * (1 + math.Erf(v/math.Sqrt2)))
		}
	})
}

// GELUBackward adds dy·GELU'(x) into dx (exact form).
func GELUBackward(dx, x, dy []float32) {
	checkLen("GELUBackward", "dy", dy, len(x))
	checkLen("GELUBackward", "dx", dx, len(x))
	const invSqrt2Pi = 0.3989422804014327
	ParallelFor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(x[i])
			cdf := 0.5 * (1 + math.Erf(v/math.Sqrt2))
			pdf := invSqrt2Pi * math.Exp(-0.5*v*v)
			dx[i] += dy[i] * float32(cdf+v*pdf)
		}
	})
}

// GELUTanhForward sets y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), the
// approximation Hugging Face calls "gelu_new" / "gelu_pytorch_tanh".
func GELUTanhForward(y, x []float32) {
	checkLen("GELUTanhForward", "y", y, len(x))
	const c = 0.7978845608028654 // sqrt(2/pi)
	ParallelFor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(x[i])
			y[i] = float32(0.5 * v * (1 + math.Tanh(c*(v+0.044715*v*v*v))))
		}
	})
}

// GELUTanhBackward adds dy·d/dx GELUTanh(x) into dx.
func GELUTanhBackward(dx, x, dy []float32) {
	checkLen("GELUTanhBackward", "dy", dy, len(x))
	checkLen("GELUTanhBackward", "dx", dx, len(x))
	const c = 0.7978845608028654
	ParallelFor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(x[i])
			u := c * (v + 0.044715*v*v*v)
			t := math.Tanh(u)
			du := c * (1 + 3*0.044715*v*v)
			dx[i] += dy[i] * float32(0.5*(1+t)+0.5*v*(1-t*t)*du)
		}
	})
}
