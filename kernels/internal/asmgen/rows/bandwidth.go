package main

import (
	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The memory-bound row kernels: elementwise adds, the LayerNorm statistics,
// normalisation and backward, and the softmax backward. Each is a short loop
// the Go compiler leaves scalar; on 8 lanes they run at the speed of the data.

// function starts a NOSPLIT, noescape function with the given signature.
func (g *gen) function(name, sig, doc string) {
	g.Function(name)
	g.Attributes(attr.NOSPLIT)
	g.Pragma("noescape")
	g.SignatureExpr(sig)
	g.Doc(doc)
}

// ptr loads pointer (or int) parameter name.
func (g *gen) ptr(name string) reg.GPVirtual {
	return g.Load(g.Param(name), g.GP64()).(reg.GPVirtual)
}

// scalar loads float32 parameter name broadcast to every lane.
func (g *gen) scalar(name string) reg.VecVirtual {
	x := g.XMM()
	g.Load(g.Param(name), x)
	y := g.vec()
	g.VBROADCASTSS(x, y)
	return y
}

func (g *gen) end() {
	g.VZEROUPPER()
	g.RET()
}

// genAdd writes addAVX2(y, a, b, n): y = a + b; y may alias a or b.
func genAdd(g *gen) {
	g.function(g.fn("add"), "func(y, a, b *float32, n int)", g.fn("add")+" sets y[j] = a[j] + b[j] for j < n.")
	y, a, b, n := g.ptr("y"), g.ptr("a"), g.ptr("b"), g.ptr("n")
	g.rowLoop(n, "add", func(ac access) {
		v := ac.load(a)
		g.VADDPS(ac.load(b), v, v)
		ac.store(v, y)
	})
	g.end()
}

// widen adds the float32 lanes of v, as float64, into acc0 (the lower half
// of the lanes) and acc1 (the upper half).
func (g *gen) widen(v, acc0, acc1 reg.VecVirtual) {
	d := g.vec()
	g.VCVTPS2PD(g.lower(v), d)
	g.VADDPD(d, acc0, acc0)
	g.VCVTPS2PD(g.upper(v), d)
	g.VADDPD(d, acc1, acc1)
}

// sum64 returns acc0 + acc1 summed over their float64 lanes, in the low
// lane of an xmm register.
func (g *gen) sum64(acc0, acc1 reg.VecVirtual) reg.Register {
	g.VADDPD(acc1, acc0, acc0)
	if g.zmm {
		y := acc0.AsY()
		g.VADDPD(g.upper(acc0), y, y)
	}
	hi := g.XMM()
	if g.zmm {
		g.VEXTRACTF32X4(operand.U8(1), acc0.AsY(), hi)
	} else {
		g.VEXTRACTF128(operand.U8(1), acc0, hi)
	}
	lo := acc0.AsX()
	g.VADDPD(hi, lo, lo)
	g.VPERMILPD(operand.U8(1), lo, hi)
	g.VADDSD(hi, lo, lo)
	return lo
}

// genLayerNormStats writes sumAVX2(x, n) = Σ x[j] and sqDevAVX2(x, n, m) =
// Σ (x[j] − m)², both summed in float64 like kernels.sumRow and sqDevRow
// (x[j] − m itself is a float32 difference there too).
func genLayerNormStats(g *gen) {
	g.function(g.fn("sum"), "func(x *float32, n int) float64", g.fn("sum")+" returns Σ x[j] for j < n, summed in float64.")
	x, n := g.ptr("x"), g.ptr("n")
	acc0, acc1 := g.vec(), g.vec()
	g.VXORPD(acc0, acc0, acc0)
	g.VXORPD(acc1, acc1, acc1)
	g.rowLoop(n, "sum", func(a access) {
		g.widen(a.load(x), acc0, acc1) // masked-off lanes load as 0
	})
	g.Store(g.sum64(acc0, acc1), g.ReturnIndex(0))
	g.end()

	g.function(g.fn("sqDev"), "func(x *float32, n int, m float32) float64", g.fn("sqDev")+" returns Σ (x[j] − m)² for j < n, summed in float64.")
	x, n = g.ptr("x"), g.ptr("n")
	m := g.scalar("m")
	acc0, acc1 = g.vec(), g.vec()
	g.VXORPD(acc0, acc0, acc0)
	g.VXORPD(acc1, acc1, acc1)
	g.rowLoop(n, "sqDev", func(a access) {
		v := a.load(x)
		g.VSUBPS(m, v, v)
		a.zeroOff(v)
		d := g.vec()
		g.VCVTPS2PD(g.lower(v), d)
		g.VFMADD231PD(d, d, acc0)
		g.VCVTPS2PD(g.upper(v), d)
		g.VFMADD231PD(d, d, acc1)
	})
	g.Store(g.sum64(acc0, acc1), g.ReturnIndex(0))
	g.end()
}

// genLayerNormRows writes the affine LayerNorm's row kernels:
// layerNormAVX2 (y = (x − m)·rs·w + b), layerNormGradSumsAVX2 (Σ g and
// Σ g·(x − m) for g = dy·w), layerNormGradAVX2 (dx += rs·g − c0 − c1·(x − m))
// and layerNormParamGradAVX2 (dw += dy·(x − m)·rs, db += dy).
func genLayerNormRows(g *gen) {
	g.function(g.fn("layerNorm"), "func(y, x, w, b *float32, n int, m, rs float32)",
		g.fn("layerNorm")+" sets y[j] = (x[j] − m)·rs·w[j] + b[j] for j < n.")
	y, x, w, b, n := g.ptr("y"), g.ptr("x"), g.ptr("w"), g.ptr("b"), g.ptr("n")
	m, rs := g.scalar("m"), g.scalar("rs")
	g.rowLoop(n, "ln", func(a access) {
		v := a.load(x)
		g.VSUBPS(m, v, v)
		g.VMULPS(rs, v, v)
		bv := a.load(b)
		g.VFMADD231PS(a.load(w), v, bv)
		a.store(bv, y)
	})
	g.end()

	g.function(g.fn("layerNormGradSums"), "func(dy, x, w *float32, n int, m float32) (s1, s2 float32)",
		g.fn("layerNormGradSums")+" returns Σ g[j] and Σ g[j]·(x[j] − m), g = dy·w, over j < n.")
	dy, x, w, n := g.ptr("dy"), g.ptr("x"), g.ptr("w"), g.ptr("n")
	m = g.scalar("m")
	s1, s2 := g.vec(), g.vec()
	g.VXORPS(s1, s1, s1)
	g.VXORPS(s2, s2, s2)
	g.rowLoop(n, "lnSums", func(a access) {
		gv := a.load(dy) // masked-off lanes are 0, and so add nothing
		g.VMULPS(a.load(w), gv, gv)
		g.VADDPS(gv, s1, s1)
		v := a.load(x)
		g.VSUBPS(m, v, v)
		g.VFMADD231PS(v, gv, s2)
	})
	g.horizontal(s1, g.VADDPS)
	g.horizontal(s2, g.VADDPS)
	g.Store(s1.AsX(), g.Return("s1"))
	g.Store(s2.AsX(), g.Return("s2"))
	g.end()

	g.function(g.fn("layerNormGrad"), "func(dx, dy, x, w *float32, n int, m, rs, c0, c1 float32)",
		g.fn("layerNormGrad")+" adds rs·g[j] − c0 − c1·(x[j] − m), g = dy·w, into dx[j] for j < n.")
	dx, dy, x, w, n := g.ptr("dx"), g.ptr("dy"), g.ptr("x"), g.ptr("w"), g.ptr("n")
	m, rs = g.scalar("m"), g.scalar("rs")
	c0, c1 := g.scalar("c0"), g.scalar("c1")
	g.rowLoop(n, "lnGrad", func(a access) {
		gv := a.load(dy)
		g.VMULPS(a.load(w), gv, gv)
		g.VMULPS(rs, gv, gv)
		g.VSUBPS(c0, gv, gv)
		v := a.load(x)
		g.VSUBPS(m, v, v)
		g.VFNMADD231PS(v, c1, gv) // gv −= c1·(x − m)
		d := a.load(dx)
		g.VADDPS(gv, d, d)
		a.store(d, dx)
	})
	g.end()

	g.function(g.fn("layerNormParamGrad"), "func(dw, db, dy, x *float32, n int, m, rs float32)",
		g.fn("layerNormParamGrad")+" adds dy[j]·(x[j] − m)·rs into dw[j] and dy[j] into db[j] for j < n.")
	dw, db, dy, x, n := g.ptr("dw"), g.ptr("db"), g.ptr("dy"), g.ptr("x"), g.ptr("n")
	m, rs = g.scalar("m"), g.scalar("rs")
	g.rowLoop(n, "lnParam", func(a access) {
		d := a.load(dy)
		v := a.load(x)
		g.VSUBPS(m, v, v)
		// (dy·(x − m))·rs, in the order of the Go loop, so that huge
		// values overflow (or not) as there.
		g.VMULPS(d, v, v)
		wv := a.load(dw)
		g.VFMADD231PS(rs, v, wv)
		a.store(wv, dw)
		bv := a.load(db)
		g.VADDPS(d, bv, bv)
		a.store(bv, db)
	})
	g.end()
}

// genSoftmaxBackward writes softmaxBackwardAVX2(dx, y, dy, n, scale):
// dx += scale·y⊙(dy − Σ dy⊙y), as kernels.SoftmaxBackward.
func genSoftmaxBackward(g *gen) {
	g.function(g.fn("softmaxBackward"), "func(dx, y, dy *float32, n int, scale float32)",
		g.fn("softmaxBackward")+" adds scale·y[j]·(dy[j] − Σ y·dy) into dx[j] for j < n.")
	dx, y, dy, n := g.ptr("dx"), g.ptr("y"), g.ptr("dy"), g.ptr("n")
	scale := g.scalar("scale")
	dot := g.vec()
	g.VXORPS(dot, dot, dot)
	g.rowLoop(n, "smDot", func(a access) {
		g.VFMADD231PS(a.load(y), a.load(dy), dot)
	})
	g.horizontal(dot, g.VADDPS)
	g.rowLoop(n, "smGrad", func(a access) {
		d := a.load(dy)
		g.VSUBPS(dot, d, d)
		p := a.load(y)
		g.VMULPS(scale, p, p)
		o := a.load(dx)
		g.VFMADD231PS(d, p, o)
		a.store(o, dx)
	})
	g.end()
}
