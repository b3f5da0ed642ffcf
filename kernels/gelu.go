package kernels

import "math"

// The exact GELU is x·Φ(x), Φ the standard normal CDF. With the Mills ratio
// (fastmath.go), q = Φ(−|x|) = φ(x)·R(|x|) costs one exponential and no erf,
// and both tails keep full relative precision:
//
//	gelu(x)  = max(x, 0) − |x|·q          (x ≥ 0: x·(1−q); x < 0: x·q)
//	gelu'(x) = Φ(x) + x·φ(x),  Φ(x) = [x ≥ 0] − sign(x)·q
//
// Neither needs a branch on the sign of x, which would mispredict on half of
// a layer's activations. Beyond |x| = 40, q and φ are far below float32's
// range; clamping |x| there keeps ±Inf·q from turning into NaN.
//
// The element formulas live in row loops (geluRow, geluGradRow) built only
// from inlined helpers, so the hot loops make no calls. They are the
// reference: on AVX2/FMA machines the kernels below run the same formulas in
// float32 assembly instead (rows.go), ~10x faster.

// geluCost is the work of one GELU element in parallelRows units in Go;
// geluErfCost is that of the exact form, which may run in assembly.
const geluCost = 24

func geluErfCost() int { return rowCost(geluCost, asmCost) }

// geluRow sets y[j] = x[j]·Φ(x[j]).
func geluRow(y, x []float32) {
	y = y[:len(x)]
	for j, xv := range x {
		v := float64(xv)
		u := math.Abs(v)
		t := 1 / (1 + u*(1/3.5))
		q := invSqrt2Pi * fastExp(-0.5*v*v) * t * millsPoly(t) // Φ(−|x|)
		y[j] = float32(max(v, 0) - min(u, 40)*q)
	}
}

// geluGradRow sets g[j] = gelu'(x[j]) = Φ(x[j]) + x[j]·φ(x[j]).
func geluGradRow(g, x []float32) {
	g = g[:len(x)]
	for j, xv := range x {
		v := float64(xv)
		t := 1 / (1 + math.Abs(v)*(1/3.5))
		pdf := invSqrt2Pi * fastExp(-0.5*v*v)
		q := pdf * t * millsPoly(t)                  // Φ(−|x|)
		step := float64(1 - math.Float64bits(v)>>63) // 1 for x ≥ +0, 0 for x ≤ −0
		g[j] = float32(step - math.Copysign(q, v) + max(-40, min(v, 40))*pdf)
	}
}

// geluBlock is how many gradients the backward kernels compute at a time
// into a scratch buffer before applying them.
const geluBlock = 256

// GELUForward sets y = x·Φ(x), the exact erf form (Hugging Face "gelu").
// y may alias x.
func GELUForward(y, x []float32) {
	checkLen("GELUForward", "y", y, len(x))
	parallelRows(len(x), geluErfCost(), func(lo, hi int) {
		geluRowVec(y[lo:hi], x[lo:hi])
	})
}

// GELUBackward adds dy·GELU'(x) into dx (exact form). A nil dx is skipped.
func GELUBackward(dx, x, dy []float32) {
	if dx == nil {
		return
	}
	checkLen("GELUBackward", "dy", dy, len(x))
	checkLen("GELUBackward", "dx", dx, len(x))
	parallelRows(len(x), geluErfCost(), func(lo, hi int) {
		var buf [geluBlock]float32
		geluBackwardRowVec(dx[lo:hi], nil, x[lo:hi], dy[lo:hi], &buf)
	})
}

// geluBackwardRow adds g = dy·grad(x) into dx and into db (either may be
// nil), grad being geluGradRow or tanhGELUGradRow, computing g in blocks in
// the caller's scratch buf.
func geluBackwardRow(dx, db, x, dy []float32, grad func(g, x []float32), buf *[geluBlock]float32) {
	for lo := 0; lo < len(x); lo += geluBlock {
		xs := x[lo:min(lo+geluBlock, len(x))]
		g := buf[:len(xs)]
		grad(g, xs)
		dys := dy[lo : lo+len(g)]
		for j, d := range dys {
			g[j] *= d
		}
		if dx != nil {
			d := dx[lo : lo+len(g)]
			for j, v := range g {
				d[j] += v
			}
		}
		if db != nil {
			d := db[lo : lo+len(g)]
			for j, v := range g {
				d[j] += v
			}
		}
	}
}

// BiasGELUForward is the MLP's fc1 epilogue fused into one pass: for each of
// rows rows of length cols it adds the bias b into x in place (x becomes the
// pre-activation, which is what the backward needs, so nothing else is
// saved) and sets y = gelu(x). y must not alias x.
func BiasGELUForward(y, x, b []float32, rows, cols int) {
	checkLen("BiasGELUForward", "x", x, rows*cols)
	checkLen("BiasGELUForward", "y", y, rows*cols)
	checkLen("BiasGELUForward", "b", b, cols)
	if rows*cols > 0 && &y[0] == &x[0] {
		panic("kernels: BiasGELUForward: y aliases x, whose biased value the backward needs")
	}
	b = b[:cols]
	parallelRows(rows, cols*(geluErfCost()+1), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*cols : (r+1)*cols]
			addRowVec(xr, xr, b)
			geluRowVec(y[r*cols:(r+1)*cols], xr) // xr is still in L1
		}
	})
}

// BiasGELUBackward is the backward of BiasGELUForward, given the biased x it
// left behind: g = dy·gelu'(x) is added into dx and its column sums into db
// (either may be nil), in one pass.
func BiasGELUBackward(dx, db, x, dy []float32, rows, cols int) {
	checkLen("BiasGELUBackward", "x", x, rows*cols)
	checkLen("BiasGELUBackward", "dy", dy, rows*cols)
	if dx != nil {
		checkLen("BiasGELUBackward", "dx", dx, rows*cols)
	}
	if db != nil {
		checkLen("BiasGELUBackward", "db", db, cols)
		db = db[:cols]
	}
	if dx == nil && db == nil {
		return
	}
	chunks := numChunks(rows, cols*(geluErfCost()+2))
	var part []float32 // db partials of chunks 1..; chunk 0 adds in place
	if db != nil && chunks > 1 {
		part = make([]float32, (chunks-1)*cols)
	}
	forChunks(rows, chunks, func(c, lo, hi int) {
		cdb := db
		if c > 0 && db != nil {
			cdb = part[(c-1)*cols : c*cols]
		}
		var buf [geluBlock]float32
		for r := lo; r < hi; r++ {
			var dxr []float32
			if dx != nil {
				dxr = dx[r*cols : (r+1)*cols]
			}
			geluBackwardRowVec(dxr, cdb, x[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], &buf)
		}
	})
	for c := 1; c < chunks && db != nil; c++ {
		for j, v := range part[(c-1)*cols : c*cols] {
			db[j] += v
		}
	}
}

// The tanh approximation is computed as x·σ(2u), u = √(2/π)·(x + 0.044715·x³),
// which equals 0.5·x·(1 + tanh(u)) but keeps full precision for negative x,
// where 1 + tanh(u) cancels. Its derivative is s + x·s·(1−s)·2·du/dx with
// s = σ(2u). Below x = −20, σ(2u) < e^−600 and the value is 0 in float32;
// clamping there keeps fastExp in range and ±Inf·0 from making NaN.

const sqrt2OverPi = 0.7978845608028654

// tanhGELURow sets y[j] = gelu_tanh(x[j]).
func tanhGELURow(y, x []float32) {
	y = y[:len(x)]
	for j, xv := range x {
		v := max(float64(xv), -20)
		u := sqrt2OverPi * (v + 0.044715*v*v*v)
		y[j] = float32(v / (1 + fastExp(-2*u)))
	}
}

// tanhGELUGradRow sets g[j] = gelu_tanh'(x[j]).
func tanhGELUGradRow(g, x []float32) {
	g = g[:len(x)]
	for j, xv := range x {
		v := max(-20, min(float64(xv), 20))
		u := sqrt2OverPi * (v + 0.044715*v*v*v)
		s := 1 / (1 + fastExp(-2*u))
		du := sqrt2OverPi * (1 + 3*0.044715*v*v)
		g[j] = float32(s + v*s*(1-s)*2*du)
	}
}

// GELUTanhForward sets y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), the
// approximation Hugging Face calls "gelu_new" / "gelu_pytorch_tanh".
// y may alias x.
func GELUTanhForward(y, x []float32) {
	checkLen("GELUTanhForward", "y", y, len(x))
	parallelRows(len(x), geluCost, func(lo, hi int) {
		tanhGELURow(y[lo:hi], x[lo:hi])
	})
}

// GELUTanhBackward adds dy·d/dx GELUTanh(x) into dx. A nil dx is skipped.
func GELUTanhBackward(dx, x, dy []float32) {
	if dx == nil {
		return
	}
	checkLen("GELUTanhBackward", "dy", dy, len(x))
	checkLen("GELUTanhBackward", "dx", dx, len(x))
	parallelRows(len(x), geluCost, func(lo, hi int) {
		var buf [geluBlock]float32
		geluBackwardRow(dx[lo:hi], nil, x[lo:hi], dy[lo:hi], tanhGELUGradRow, &buf)
	})
}
