package kernels

// sigmoid returns 1/(1+e^−x) in float64 without overflow: both branches
// exponentiate a non-positive number.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + fastExp(-x))
	}
	e := fastExp(x)
	return e / (1 + e)
}

// The element formulas below, in float64 and rounded once, are the
// reference; on AVX2/FMA and AVX-512 machines the same formulas run in
// float32 assembly (rows.go; internal/asmgen/rows/swiglu.go), within about
// 1e-6 relative. The x multiplying σ is clamped to ±600, where fastExp
// saturates and σ or 1 − σ is 0 in float32: that keeps ±Inf·0 from making
// NaN, so silu(−Inf) = −0 and silu'(±Inf) = 1 or 0, the limits (torch gives
// NaN there). NaN gives NaN.

// siluCost is the parallelRows cost of a SiLU element in the pure-Go loops.
const siluCost = 8

// silu returns x·σ(x).
func silu(v float64) float64 { return max(v, -600) * sigmoid(v) }

// siluGrad returns silu'(x) = σ·(1 + x·(1 − σ)).
func siluGrad(v float64) float64 {
	s := sigmoid(v)
	return s * (1 + max(-600, min(v, 600))*(1-s))
}

// siluRow sets y[j] = silu(x[j]).
func siluRow(y, x []float32) {
	y = y[:len(x)]
	for j, v := range x {
		y[j] = float32(silu(float64(v)))
	}
}

// siluBackwardRow adds dy[j]·silu'(x[j]) into dx[j].
func siluBackwardRow(dx, x, dy []float32) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	for j, v := range x {
		dx[j] += float32(float64(dy[j]) * siluGrad(float64(v)))
	}
}

// swigluRow sets y[j] = silu(gate[j])·up[j].
func swigluRow(y, gate, up []float32) {
	y, up = y[:len(gate)], up[:len(gate)]
	for j, g := range gate {
		y[j] = float32(silu(float64(g))) * up[j]
	}
}

// swigluBackwardRow adds dy·up·silu'(gate) into dgate and dy·silu(gate)
// into dup; either may be nil.
func swigluBackwardRow(dgate, dup, gate, up, dy []float32) {
	n := len(gate)
	up, dy = up[:n], dy[:n]
	for j, g := range gate {
		v := float64(g)
		if dup != nil {
			dup[j] += dy[j] * float32(silu(v))
		}
		if dgate != nil {
			dgate[j] += float32(float64(dy[j]) * float64(up[j]) * siluGrad(v))
		}
	}
}

// SiLUForward sets y = silu(x) = x·sigmoid(x) (torch.nn.functional.silu,
// Hugging Face's "silu"/"swish"). y may alias x.
func SiLUForward(y, x []float32) {
	checkLen("SiLUForward", "x", x, len(y))
	parallelRows(len(y), rowCost(siluCost, asmCost), func(lo, hi int) {
		siluRowVec(y[lo:hi], x[lo:hi])
	})
}

// SiLUBackward adds dy·silu'(x) into dx, silu'(x) = s·(1 + x·(1 − s)) with
// s = sigmoid(x).
func SiLUBackward(dx, x, dy []float32) {
	checkLen("SiLUBackward", "x", x, len(dx))
	checkLen("SiLUBackward", "dy", dy, len(dx))
	parallelRows(len(dx), rowCost(siluCost, asmCost), func(lo, hi int) {
		siluBackwardRowVec(dx[lo:hi], x[lo:hi], dy[lo:hi])
	})
}

// SwiGLUForward sets y = silu(gate) ⊙ up, the gated activation of LLaMA's
// MLP (down_proj(act_fn(gate_proj(x)) * up_proj(x))). y may alias gate or
// up.
func SwiGLUForward(y, gate, up []float32) {
	checkLen("SwiGLUForward", "gate", gate, len(y))
	checkLen("SwiGLUForward", "up", up, len(y))
	parallelRows(len(y), rowCost(siluCost, asmCost), func(lo, hi int) {
		swigluRowVec(y[lo:hi], gate[lo:hi], up[lo:hi])
	})
}

// SwiGLUBackward adds the gradients of SwiGLUForward: dgate += dy ⊙ up ⊙
// silu'(gate), dup += dy ⊙ silu(gate). A nil dgate or dup is skipped.
func SwiGLUBackward(dgate, dup, gate, up, dy []float32) {
	n := len(dy)
	checkLen("SwiGLUBackward", "gate", gate, n)
	checkLen("SwiGLUBackward", "up", up, n)
	if dgate != nil {
		checkLen("SwiGLUBackward", "dgate", dgate, n)
	}
	if dup != nil {
		checkLen("SwiGLUBackward", "dup", dup, n)
	}
	if dgate == nil && dup == nil {
		return
	}
	parallelRows(n, rowCost(siluCost+2, asmCost), func(lo, hi int) {
		var dg, du []float32
		if dgate != nil {
			dg = dgate[lo:hi]
		}
		if dup != nil {
			du = dup[lo:hi]
		}
		swigluBackwardRowVec(dg, du, gate[lo:hi], up[lo:hi], dy[lo:hi])
	})
}
