package main

import (
	"github.com/mmcloughlin/avo/reg"
)

// The SiLU/SwiGLU kernels of the LLaMA MLP, the formulas of kernels.siluRow
// and friends (swiglu.go) on float32 lanes. With e = e^−|x| (the shared exp,
// whose argument is never positive) and r = 1/(1 + e):
//
//	x ≥ 0: σ(x) = r,    1 − σ(x) = e·r
//	x < 0: σ(x) = e·r,  1 − σ(x) = r
//
// so both σ and 1 − σ keep full relative precision in both tails, without a
// branch. silu(x) = x·σ(x) and silu'(x) = σ·(1 + x·(1 − σ)); the x in those
// products is clamped to ±siluClamp, beyond which σ or 1 − σ is 0 in float32
// anyway, so that ±Inf·0 gives the limits (silu(−Inf) = −0, silu'(±Inf) = 1
// or 0) rather than NaN. A NaN input gives NaN.

// sigmoid returns σ(x) and 1 − σ(x).
func (g *gen) sigmoid(x reg.VecVirtual) (s, oms reg.VecVirtual) {
	u := g.vec()
	g.VORPS(g.k("signBit"), x, u) // −|x|
	e := g.exp(u)
	den := g.vec()
	g.VADDPS(g.k("one"), e, den)
	r := g.kreg("one")
	g.VDIVPS(den, r, r) // 1/(1 + e)
	er := g.vec()
	g.VMULPS(r, e, er)
	s, oms = g.vec(), g.vec()
	g.blendSign(x, er, r, s)
	g.blendSign(x, r, er, oms)
	return s, oms
}

// silu returns silu(x) = max(x, −siluClamp)·σ(x), and σ and 1 − σ.
func (g *gen) silu(x reg.VecVirtual) (y, s, oms reg.VecVirtual) {
	s, oms = g.sigmoid(x)
	y = g.vec()
	g.VMAXPS(g.k("negSiluClamp"), x, y)
	g.VMULPS(s, y, y)
	return y, s, oms
}

// siluGrad returns silu'(x) = σ + σ·xc·(1 − σ), xc = x clamped to ±siluClamp.
func (g *gen) siluGrad(x, s, oms reg.VecVirtual) reg.VecVirtual {
	xc := g.vec()
	g.VMAXPS(g.k("negSiluClamp"), x, xc)
	g.VMINPS(g.k("siluClamp"), xc, xc)
	g.VMULPS(oms, xc, xc)
	g.VFMADD213PS(s, s, xc) // s·(x·(1 − s)) + s
	return xc
}

// genSiLU writes siluAVX2(y, x, n): y[j] = silu(x[j]).
func genSiLU(g *gen) {
	g.function(g.fn("silu"), "func(y, x *float32, n int)", g.fn("silu")+" sets y[j] = silu(x[j]) = x[j]·σ(x[j]) for j < n.")
	y, x, n := g.ptr("y"), g.ptr("x"), g.ptr("n")
	g.rowLoop(n, "silu", func(a access) {
		v, _, _ := g.silu(a.load(x))
		a.store(v, y)
	})
	g.end()
}

// genSiLUBackward writes siluBackwardAVX2(dx, x, dy, n): dx[j] +=
// dy[j]·silu'(x[j]).
func genSiLUBackward(g *gen) {
	g.function(g.fn("siluBackward"), "func(dx, x, dy *float32, n int)", g.fn("siluBackward")+" adds dy[j]·silu'(x[j]) into dx[j] for j < n.")
	dx, x, dy, n := g.ptr("dx"), g.ptr("x"), g.ptr("dy"), g.ptr("n")
	g.rowLoop(n, "siluBwd", func(a access) {
		xv := a.load(x)
		s, oms := g.sigmoid(xv)
		d := g.siluGrad(xv, s, oms)
		g.VMULPS(a.load(dy), d, d)
		acc := a.load(dx)
		g.VADDPS(d, acc, acc)
		a.store(acc, dx)
	})
	g.end()
}

// genSwiGLU writes swigluAVX2(y, gate, up, n): y[j] = silu(gate[j])·up[j],
// silu rounded to float32 first as in kernels.swigluRow.
func genSwiGLU(g *gen) {
	g.function(g.fn("swiglu"), "func(y, gate, up *float32, n int)", g.fn("swiglu")+" sets y[j] = silu(gate[j])·up[j] for j < n.")
	y, gate, up, n := g.ptr("y"), g.ptr("gate"), g.ptr("up"), g.ptr("n")
	g.rowLoop(n, "swiglu", func(a access) {
		v, _, _ := g.silu(a.load(gate))
		g.VMULPS(a.load(up), v, v)
		a.store(v, y)
	})
	g.end()
}

// genSwiGLUBackward writes the backward of swiglu: dgate[j] +=
// dy[j]·up[j]·silu'(gate[j]) and dup[j] += dy[j]·silu(gate[j]), as
// swigluBackwardAVX2(dgate, dup, gate, up, dy, n) when both are wanted and
// as swigluGateBackwardAVX2(dgate, gate, up, dy, n) or
// swigluUpBackwardAVX2(dup, gate, dy, n) when one is.
func genSwiGLUBackward(g *gen, wantGate, wantUp bool) {
	switch {
	case wantGate && wantUp:
		g.function(g.fn("swigluBackward"), "func(dgate, dup, gate, up, dy *float32, n int)",
			g.fn("swigluBackward")+" adds dy[j]·up[j]·silu'(gate[j]) into dgate[j] and dy[j]·silu(gate[j]) into dup[j] for j < n.")
	case wantGate:
		g.function(g.fn("swigluGateBackward"), "func(dgate, gate, up, dy *float32, n int)",
			g.fn("swigluGateBackward")+" adds dy[j]·up[j]·silu'(gate[j]) into dgate[j] for j < n.")
	default:
		g.function(g.fn("swigluUpBackward"), "func(dup, gate, dy *float32, n int)",
			g.fn("swigluUpBackward")+" adds dy[j]·silu(gate[j]) into dup[j] for j < n.")
	}
	var dgate, dup, up reg.GPVirtual
	if wantGate {
		dgate = g.ptr("dgate")
	}
	if wantUp {
		dup = g.ptr("dup")
	}
	gate := g.ptr("gate")
	if wantGate {
		up = g.ptr("up")
	}
	dy, n := g.ptr("dy"), g.ptr("n")
	name := "swigluBwd"
	if !wantUp {
		name = "swigluGateBwd"
	} else if !wantGate {
		name = "swigluUpBwd"
	}
	g.rowLoop(n, name, func(a access) {
		gv := a.load(gate)
		dyv := a.load(dy)
		y, s, oms := g.silu(gv)
		if wantUp {
			g.VMULPS(dyv, y, y)
			acc := a.load(dup)
			g.VADDPS(y, acc, acc)
			a.store(acc, dup)
		}
		if wantGate {
			d := g.siluGrad(gv, s, oms)
			g.VMULPS(a.load(up), dyv, dyv)
			g.VMULPS(dyv, d, d)
			acc := a.load(dgate)
			g.VADDPS(d, acc, acc)
			a.store(acc, dgate)
		}
	})
	g.end()
}
