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

// SiLUForward sets y = silu(x) = x·sigmoid(x) (torch.nn.functional.silu,
// Hugging Face's "silu"/"swish"). y may alias x.
func SiLUForward(y, x []float32) {
	checkLen("SiLUForward", "x", x, len(y))
	parallelRows(len(y), 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(x[i])
			y[i] = float32(v * sigmoid(v))
		}
	})
}

// SiLUBackward adds dy·silu'(x) into dx, silu'(x) = s·(1 + x·(1 − s)) with
// s = sigmoid(x).
func SiLUBackward(dx, x, dy []float32) {
	checkLen("SiLUBackward", "x", x, len(dx))
	checkLen("SiLUBackward", "dy", dy, len(dx))
	parallelRows(len(dx), 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(x[i])
			s := sigmoid(v)
			dx[i] += float32(float64(dy[i]) * s * (1 + v*(1-s)))
		}
	})
}

// SwiGLUForward sets y = silu(gate) ⊙ up, the gated activation of LLaMA's
// MLP (down_proj(act_fn(gate_proj(x)) * up_proj(x))). y may alias gate or
// up.
func SwiGLUForward(y, gate, up []float32) {
	checkLen("SwiGLUForward", "gate", gate, len(y))
	checkLen("SwiGLUForward", "up", up, len(y))
	parallelRows(len(y), 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := float64(gate[i])
			y[i] = float32(g*sigmoid(g)) * up[i]
		}
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
	parallelRows(n, 10, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := float64(gate[i])
			s := sigmoid(g)
			if dup != nil {
				dup[i] += dy[i] * float32(g*s)
			}
			if dgate != nil {
				dgate[i] += float32(float64(dy[i]) * float64(up[i]) * s * (1 + g*(1-s)))
			}
		}
	})
}
