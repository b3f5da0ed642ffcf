package main

import (
	"math"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The kernels are written once and generated twice: on 8 float32 lanes with
// AVX2/FMA (ymm registers, functions named ...AVX2) and on 16 lanes with
// AVX-512 (zmm, ...AVX512); gen hides the few instructions that differ.
// Every constant is stored once per lane (32 or 64 bytes) in one read-only
// table and used as a full-width memory operand; that keeps the registers
// for the computation. A row's last n mod lanes elements go through the
// same code with masked loads and stores (VMASKMOVPS on AVX2, an opmask on
// AVX-512), so every element of a row gets the same treatment whatever its
// position, and the two widths give the same bits wherever no sum runs
// across lanes.

// expMin clamps exponents from below: e^−104 is under half float32's smallest
// subnormal, so the result rounds to 0, and 2^n stays representable as the
// product of two normal powers of two (see exp).
const expMin = -104

// millsCoef are the coefficients of kernels.millsPoly (fastmath.go), highest
// degree first, rounded to float32.
var millsCoef = []float64{
	-0.036497434915720085, 0.16978700380075104, -0.2704475865844399,
	0.13946609137980806, -0.044443291912225534, 0.0964420661882316,
	0.14927590258822707, 0.21591894848651388, 0.2623837434443242,
	0.2857144000219131, 0.285714285290255,
}

// constant is a table entry: a float32 (by its bits) or an int32 pattern.
type constant struct {
	name string
	bits uint32
}

// constants lists the table's entries; the Mills coefficients follow them
// as millsa, millsb, ...
var constants = []constant{
	{"absMask", 0x7fffffff},
	{"signBit", 0x80000000},
	{"negInf", 0xff800000},
	{"expBias", 127},
	{"one", f32(1)},
	{"negOne", f32(-1)},
	{"negHalf", f32(-0.5)},
	{"threeHalf", f32(3.5)},
	{"invSqrt2Pi", f32(0.3989422804014327)},
	{"forty", f32(40)},
	{"negForty", f32(-40)},
	{"expMin", f32(expMin)},
	{"siluClamp", f32(-expMin)},
	{"negSiluClamp", f32(expMin)},
	{"log2e", f32(math.Log2E)},
	// ln2 = ln2Hi + ln2Lo, ln2Hi with 9 significant bits so that n·ln2Hi
	// is exact for |n| < 2^15.
	{"ln2Hi", f32(0.693359375)},
	{"ln2Lo", f32(math.Ln2 - 0.693359375)},
	// Taylor coefficients of e^r, degree 7 first: on |r| ≤ ln2/2 the
	// truncation error is below 5e-9, far under float32's rounding.
	{"exp7", f32(1.0 / 5040)},
	{"exp6", f32(1.0 / 720)},
	{"exp5", f32(1.0 / 120)},
	{"exp4", f32(1.0 / 24)},
	{"exp3", f32(1.0 / 6)},
	{"exp2", f32(0.5)},
}

func init() {
	for i, c := range millsCoef {
		constants = append(constants, constant{millsName(i), f32(c)})
	}
}

func millsName(i int) string { return "mills" + string(rune('a'+i)) }

func f32(v float64) uint32 { return math.Float32bits(float32(v)) }

// gen is a build context for one vector width, with the constant table and
// the tail mask table.
type gen struct {
	*build.Context
	zmm    bool   // 16 lanes (AVX-512), else 8 (AVX2)
	suffix string // of the function names: "AVX2" or "AVX512"
	table  operand.Mem
	index  map[string]int
	masks  operand.Mem
}

func newGen(ctx *build.Context, zmm bool) *gen {
	g := &gen{Context: ctx, zmm: zmm, suffix: "AVX2", index: map[string]int{}}
	name := "rowconst"
	if zmm {
		g.suffix, name = "AVX512", "rowconst512"
	}
	g.table = ctx.StaticGlobal(name)
	ctx.DataAttributes(attr.RODATA | attr.NOPTR)
	for i, c := range constants {
		g.index[c.name] = i
		for l := range g.lanes() {
			ctx.AddDatum(g.vbytes()*i+4*l, operand.U32(c.bits))
		}
	}
	if zmm {
		// rowmask512 holds the 16-bit opmask with the first r lanes set
		// at entry r.
		g.masks = ctx.StaticGlobal("rowmask512")
		ctx.DataAttributes(attr.RODATA | attr.NOPTR)
		for r := range 16 {
			ctx.AddDatum(2*r, operand.U16(1<<r-1))
		}
		return g
	}
	// rowmask holds 8 all-ones lanes then 8 zero lanes: the 8 lanes read
	// at element offset 8−r have exactly the first r set.
	g.masks = ctx.StaticGlobal("rowmask")
	ctx.DataAttributes(attr.RODATA | attr.NOPTR)
	for l := range 16 {
		v := uint32(0)
		if l < 8 {
			v = 0xffffffff
		}
		ctx.AddDatum(4*l, operand.U32(v))
	}
	return g
}

// lanes is the number of float32 lanes of a vector, vbytes its size.
func (g *gen) lanes() int {
	if g.zmm {
		return 16
	}
	return 8
}

func (g *gen) vbytes() int { return 4 * g.lanes() }

// vec allocates a vector register of the gen's width.
func (g *gen) vec() reg.VecVirtual {
	if g.zmm {
		return g.ZMM()
	}
	return g.YMM()
}

// fn is the full name of kernel base ("gelu" → "geluAVX2").
func (g *gen) fn(base string) string { return base + g.suffix }

// k returns the constant name as a full-width memory operand.
func (g *gen) k(name string) operand.Mem {
	i, ok := g.index[name]
	if !ok {
		panic("rows: no constant " + name)
	}
	return g.table.Offset(g.vbytes() * i)
}

// kreg loads constant name into a new register.
func (g *gen) kreg(name string) reg.VecVirtual {
	r := g.vec()
	g.VMOVUPS(g.k(name), r)
	return r
}

// upper returns the upper half of v (an xmm of a ymm, a ymm of a zmm).
func (g *gen) upper(v reg.VecVirtual) reg.VecVirtual {
	if g.zmm {
		h := g.YMM()
		g.VEXTRACTF64X4(operand.U8(1), v, h)
		return h
	}
	h := g.XMM()
	g.VEXTRACTF128(operand.U8(1), v, h)
	return h
}

// lower returns the lower half of v, the same register.
func (g *gen) lower(v reg.VecVirtual) reg.Register {
	if g.zmm {
		return v.AsY()
	}
	return v.AsX()
}

// blendSign sets dst to ifNeg in the lanes where sel's sign bit is set and
// to ifPos elsewhere.
func (g *gen) blendSign(sel, ifNeg, ifPos, dst reg.VecVirtual) {
	if g.zmm {
		k := g.K()
		g.VPMOVD2M(sel, k)
		g.VBLENDMPS(ifNeg, ifPos, k, dst)
		return
	}
	g.VBLENDVPS(sel, ifNeg, ifPos, dst)
}

// exp returns e^z for z ≤ 0 (z is clamped to [expMin, ∞); a NaN stays NaN,
// so a NaN logit spreads over its softmax row as in the pure-Go loop); z
// is not modified.
//
// z = n·ln2 + r with n = round(z·log2 e), |r| ≤ ln2/2, and e^z = 2^n·e^r.
// 2^n is applied as 2^⌊n/2⌋·2^(n−⌊n/2⌋), two normal powers of two, so results
// down to float32's subnormals come out right instead of wrapping.
func (g *gen) exp(z reg.VecVirtual) reg.VecVirtual {
	zc := g.kreg("expMin")
	g.VMAXPS(z, zc, zc) // max(expMin, z), z if NaN
	n := g.vec()
	g.VMULPS(g.k("log2e"), zc, n)
	g.VCVTPS2DQ(n, n) // round to nearest (MXCSR default)
	nf := g.vec()
	g.VCVTDQ2PS(n, nf)
	g.VFNMADD231PS(g.k("ln2Hi"), nf, zc) // zc −= n·ln2Hi (exact)
	g.VFNMADD231PS(g.k("ln2Lo"), nf, zc) // r = zc − n·ln2Lo
	p := g.kreg("exp7")
	for _, c := range []string{"exp6", "exp5", "exp4", "exp3", "exp2", "one", "one"} {
		g.VFMADD213PS(g.k(c), zc, p) // p = p·r + c
	}
	n1 := g.vec()
	g.VPSRAD(operand.U8(1), n, n1) // ⌊n/2⌋
	g.VPSUBD(n1, n, n)             // n − ⌊n/2⌋
	for _, m := range []reg.VecVirtual{n1, n} {
		g.VPADDD(g.k("expBias"), m, m)
		g.VPSLLD(operand.U8(23), m, m) // 2^m as a float32
		g.VMULPS(m, p, p)
	}
	return p
}

// normalTail computes, for x, the upper normal tail q = Φ(−|x|), the density
// pdf = φ(x) and xc = x clamped to [−40, 40], as kernels.geluRow does in
// float64: q = φ(x)·t·millsPoly(t), t = 1/(1 + |x|/3.5). The square xc² is
// split exactly into h + l (FMA), so e^(−x²/2) = e^(−h/2)·(1 − l/2) keeps
// full precision where x² is large. The clamp keeps x² finite and ±Inf·q a
// number; beyond 40 both q and φ are 0 in float32 anyway.
func (g *gen) normalTail(x reg.VecVirtual) (q, pdf, xc reg.VecVirtual) {
	u := g.vec()
	g.VANDPS(g.k("absMask"), x, u)
	den := g.vec()
	g.VADDPS(g.k("threeHalf"), u, den)
	t := g.kreg("threeHalf")
	g.VDIVPS(den, t, t) // t = 3.5/(3.5 + |x|)
	poly := g.kreg(millsName(0))
	for i := 1; i < len(millsCoef); i++ {
		g.VFMADD213PS(g.k(millsName(i)), t, poly)
	}
	g.VMULPS(t, poly, poly) // Mills ratio R(|x|)

	xc = g.vec()
	g.VMAXPS(g.k("negForty"), x, xc)
	g.VMINPS(g.k("forty"), xc, xc)
	h := g.vec()
	g.VMULPS(xc, xc, h)
	l := g.vec()
	g.VMOVAPS(xc, l)
	g.VFMSUB213PS(h, xc, l) // l = xc·xc − h, exactly
	g.VMULPS(g.k("negHalf"), h, h)
	e := g.exp(h)
	g.VMULPS(g.k("negHalf"), l, l)
	g.VFMADD231PS(l, e, e) // e·(1 − l/2)
	pdf = g.vec()
	g.VMULPS(g.k("invSqrt2Pi"), e, pdf)
	q = g.vec()
	g.VMULPS(pdf, poly, q)
	return q, pdf, xc
}

// elem addresses element i of the float32 array at p.
func elem(p, i reg.GPVirtual) operand.Mem { return operand.Mem{Base: p, Index: i, Scale: 4} }

// access loads and stores the lanes elements at index i of a row, all of
// them (mask nil) or the lanes set in mask: a vector register on AVX2, an
// opmask register on AVX-512.
type access struct {
	g    *gen
	i    reg.GPVirtual
	mask reg.Register
}

func (a access) load(p reg.GPVirtual) reg.VecVirtual {
	v := a.g.vec()
	switch {
	case a.mask == nil:
		a.g.VMOVUPS(elem(p, a.i), v)
	case a.g.zmm:
		a.g.VMOVUPS_Z(elem(p, a.i), a.mask, v) // masked-off lanes are 0
	default:
		a.g.VMASKMOVPS(elem(p, a.i), a.mask, v) // masked-off lanes are 0
	}
	return v
}

func (a access) store(v reg.VecVirtual, p reg.GPVirtual) {
	if a.mask == nil {
		a.g.VMOVUPS(v, elem(p, a.i))
	} else if a.g.zmm {
		a.g.VMOVUPS(v, a.mask, elem(p, a.i))
	} else {
		a.g.VMASKMOVPS(v, a.mask, elem(p, a.i))
	}
}

// zeroOff zeroes the masked-off lanes of v (nothing for a full block).
func (a access) zeroOff(v reg.VecVirtual) {
	switch {
	case a.mask == nil:
	case a.g.zmm:
		a.g.VMOVAPS_Z(v, a.mask, v)
	default:
		a.g.VANDPS(a.mask, v, v)
	}
}

// fillOff sets the masked-off lanes of v to those of w.
func (a access) fillOff(v, w reg.VecVirtual) {
	switch {
	case a.mask == nil:
	case a.g.zmm:
		a.g.VBLENDMPS(v, w, a.mask, v)
	default:
		a.g.VBLENDVPS(a.mask, v, w, v)
	}
}

// rowLoop emits a loop over n elements in blocks of lanes, then the masked
// tail: body is emitted twice, for full blocks and for the tail.
func (g *gen) rowLoop(n reg.GPVirtual, name string, body func(a access)) {
	i := g.GP64()
	g.XORQ(i, i)
	n8 := g.GP64()
	g.MOVQ(n, n8)
	g.ANDQ(operand.I32(-g.lanes()), n8)
	g.JMP(operand.LabelRef(name + "_check"))
	g.Label(name + "_block")
	body(access{g: g, i: i})
	g.ADDQ(operand.I32(g.lanes()), i)
	g.Label(name + "_check")
	g.CMPQ(i, n8)
	g.JL(operand.LabelRef(name + "_block"))

	g.CMPQ(i, n)
	g.JGE(operand.LabelRef(name + "_done"))
	body(access{g: g, i: i, mask: g.tailMask(n, i)})
	g.Label(name + "_done")
}

// tailMask returns the lane mask of the n − i < lanes elements from index i.
func (g *gen) tailMask(n, i reg.GPVirtual) reg.Register {
	if g.zmm {
		r := g.GP64()
		g.MOVQ(n, r)
		g.SUBQ(i, r) // n − i
		base := g.GP64()
		g.LEAQ(g.masks, base)
		k := g.K()
		g.KMOVW(operand.Mem{Base: base, Index: r, Scale: 2}, k)
		return k
	}
	off := g.GP64()
	g.MOVQ(operand.I32(8), off)
	g.ADDQ(i, off)
	g.SUBQ(n, off) // 8 − (n − i)
	base := g.GP64()
	g.LEAQ(g.masks, base)
	mask := g.YMM()
	g.VMOVUPS(operand.Mem{Base: base, Index: off, Scale: 4}, mask)
	return mask
}

// genRows writes every row kernel at one width.
func genRows(ctx *build.Context, zmm bool) {
	g := newGen(ctx, zmm)
	genGELU(g)
	genGELUBackward(g, false)
	genGELUBackward(g, true)
	genSoftmax(g)
	genSoftmaxBackward(g)
	genAdd(g)
	genLayerNormStats(g)
	genLayerNormRows(g)
	genRMSNormRows(g)
	genSiLU(g)
	genSiLUBackward(g)
	genSwiGLU(g)
	genSwiGLUBackward(g, true, true)
	genSwiGLUBackward(g, true, false)
	genSwiGLUBackward(g, false, true)
}

// genGELU writes geluAVX2(y, x, n): y[j] = x[j]·Φ(x[j]), the formula of
// kernels.geluRow: y = x − x·q for x ≥ 0 and x·q below, q = Φ(−|x|).
func genGELU(g *gen) {
	g.Function(g.fn("gelu"))
	g.Attributes(attr.NOSPLIT)
	g.Pragma("noescape")
	g.SignatureExpr("func(y, x *float32, n int)")
	g.Doc(g.fn("gelu") + " sets y[j] = gelu(x[j]) for j < n (exact erf form).")
	y := g.Load(g.Param("y"), g.GP64()).(reg.GPVirtual)
	x := g.Load(g.Param("x"), g.GP64()).(reg.GPVirtual)
	n := g.Load(g.Param("n"), g.GP64()).(reg.GPVirtual)
	g.rowLoop(n, "gelu", func(a access) {
		xv := a.load(x)
		q, _, xq := g.normalTail(xv)
		g.VMULPS(q, xq, xq)
		pos := g.vec()
		g.VSUBPS(xq, xv, pos)       // x − x·q
		g.blendSign(xv, xq, pos, q) // sign of x picks x·q
		a.store(q, y)
	})
	g.VZEROUPPER()
	g.RET()
}

// genGELUBackward writes geluBackwardAVX2(dx, x, dy, n): dx[j] +=
// dy[j]·gelu'(x[j]), and with bias geluBiasBackwardAVX2(dx, db, x, dy, n),
// which also adds the same products into db[j]. gelu'(x) = Φ(x) + x·φ(x),
// Φ(x) = 1 − q for x ≥ 0 and q below.
func genGELUBackward(g *gen, bias bool) {
	if bias {
		g.Function(g.fn("geluBiasBackward"))
		g.SignatureExpr("func(dx, db, x, dy *float32, n int)")
		g.Doc(g.fn("geluBiasBackward") + " adds dy[j]·gelu'(x[j]) into dx[j] and db[j] for j < n.")
	} else {
		g.Function(g.fn("geluBackward"))
		g.SignatureExpr("func(dx, x, dy *float32, n int)")
		g.Doc(g.fn("geluBackward") + " adds dy[j]·gelu'(x[j]) into dx[j] for j < n.")
	}
	g.Attributes(attr.NOSPLIT)
	g.Pragma("noescape")
	dx := g.Load(g.Param("dx"), g.GP64()).(reg.GPVirtual)
	var db reg.GPVirtual
	if bias {
		db = g.Load(g.Param("db"), g.GP64()).(reg.GPVirtual)
	}
	x := g.Load(g.Param("x"), g.GP64()).(reg.GPVirtual)
	dy := g.Load(g.Param("dy"), g.GP64()).(reg.GPVirtual)
	n := g.Load(g.Param("n"), g.GP64()).(reg.GPVirtual)
	name := "geluBwd"
	if bias {
		name = "geluBiasBwd"
	}
	g.rowLoop(n, name, func(a access) {
		xv := a.load(x)
		q, pdf, xc := g.normalTail(xv)
		omq := g.kreg("one")
		g.VSUBPS(q, omq, omq)        // 1 − q
		g.blendSign(xv, q, omq, omq) // Φ(x)
		g.VFMADD231PS(xc, pdf, omq)  // gelu'(x)
		dyv := a.load(dy)
		g.VMULPS(dyv, omq, omq)
		d := a.load(dx)
		g.VADDPS(omq, d, d)
		a.store(d, dx)
		if bias {
			b := a.load(db)
			g.VADDPS(omq, b, b)
			a.store(b, db)
		}
	})
	g.VZEROUPPER()
	g.RET()
}

// genSoftmax writes softmaxAVX2(y, x, n, scale) for n ≥ 1 and scale ≥ 0:
// y = softmax(scale·x), computed as kernels.softmaxRow does with the row max
// as pivot: e = exp(scale·(x − max)), y = e/Σe.
//
// Cross-entropy keeps its float64 row loop: its loss is promised to 1e-9
// relative, beyond float32 exponentials, and at classification widths it
// costs nothing.
func genSoftmax(g *gen) {
	g.Function(g.fn("softmax"))
	g.Attributes(attr.NOSPLIT)
	g.Pragma("noescape")
	g.SignatureExpr("func(y, x *float32, n int, scale float32)")
	g.Doc(g.fn("softmax") + " sets y[:n] = softmax(scale·x[:n]) for n ≥ 1, scale ≥ 0.")
	y := g.Load(g.Param("y"), g.GP64()).(reg.GPVirtual)
	x := g.Load(g.Param("x"), g.GP64()).(reg.GPVirtual)
	n := g.Load(g.Param("n"), g.GP64()).(reg.GPVirtual)
	sx := g.XMM()
	g.Load(g.Param("scale"), sx)
	scale := g.vec()
	g.VBROADCASTSS(sx, scale)

	// Pass 1: the row max. Masked-off tail lanes become −Inf.
	mx := g.kreg("negInf")
	g.rowLoop(n, "smMax", func(a access) {
		v := a.load(x)
		a.fillOff(v, mx) // mx ≤ max(mx, anything)
		g.VMAXPS(v, mx, mx)
	})
	g.horizontal(mx, g.VMAXPS)

	// Pass 2: e = exp(scale·(x − max)) into y, and its sum; masked-off
	// tail lanes are zeroed before summing. The exponent is carried as
	// zh + zl (TwoSum for x − max, FMA for the product): rounding it to
	// float32 would cost |z|·6e-8 relative, 5e-6 at z = −80.
	sum := g.vec()
	g.VXORPS(sum, sum, sum)
	g.rowLoop(n, "smExp", func(a access) {
		v := a.load(x)
		dh := g.vec()
		g.VSUBPS(mx, v, dh) // dh = x − max, rounded
		bv := g.vec()
		g.VSUBPS(v, dh, bv) // TwoSum: the part of dh from −max
		av := g.vec()
		g.VSUBPS(bv, dh, av) // and from x
		g.VSUBPS(av, v, v)
		g.VADDPS(mx, bv, bv)
		g.VSUBPS(bv, v, v) // dl = (x − av) + (−max − bv): dh + dl = x − max
		zh := g.vec()
		g.VMULPS(scale, dh, zh)
		g.VFMSUB213PS(zh, scale, dh) // scale·dh − zh, exactly
		g.VFMADD231PS(v, scale, dh)  // zl = that + scale·dl
		// An infinite logit makes zl NaN (Inf − Inf); then e^zh is 0 or
		// NaN already, so turn zl into a number rather than let it spread.
		g.VMAXPS(g.k("negOne"), dh, dh)
		e := g.exp(zh)
		g.VFMADD231PS(dh, e, e) // e^zh·(1 + zl)
		a.zeroOff(e)
		g.VADDPS(e, sum, sum)
		a.store(e, y)
	})
	g.horizontal(sum, g.VADDPS)
	inv := g.kreg("one")
	g.VDIVPS(sum, inv, inv)

	// Pass 3: y *= 1/Σe.
	g.rowLoop(n, "smScale", func(a access) {
		v := a.load(y)
		g.VMULPS(inv, v, v)
		a.store(v, y)
	})
	g.VZEROUPPER()
	g.RET()
}

// horizontal reduces the lanes of v with op (VMAXPS or VADDPS) and
// broadcasts the result back into all lanes of v.
func (g *gen) horizontal(v reg.VecVirtual, op func(ops ...operand.Op)) {
	lo := v.AsX()
	if g.zmm {
		op(g.upper(v), v.AsY(), v.AsY())
		hi := g.XMM()
		g.VEXTRACTF32X4(operand.U8(1), v.AsY(), hi)
		op(hi, lo, lo)
	} else {
		op(g.upper(v), lo, lo)
	}
	hi := g.XMM()
	g.VPERMILPS(operand.U8(0x4e), lo, hi) // swap the 64-bit halves
	op(hi, lo, lo)
	g.VPERMILPS(operand.U8(0xb1), lo, hi) // swap neighbouring lanes
	op(hi, lo, lo)
	g.VBROADCASTSS(lo, v)
}
