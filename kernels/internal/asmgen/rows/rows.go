package main

import (
	"math"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The kernels work on 8 float32 lanes. AVX2 has no broadcast memory operand,
// so every constant is stored 8 times (32 bytes) in one read-only table and
// used as a full-width memory operand; that keeps the 16 ymm registers for
// the computation. A row's last n mod 8 elements go through the same code
// with masked loads and stores (VMASKMOVPS), so every element of a row gets
// bit-identical treatment whatever its position.

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

// gen is a build context with the constant table and the lane mask table.
type gen struct {
	*build.Context
	table operand.Mem
	index map[string]int
	masks operand.Mem
}

func newGen(ctx *build.Context) *gen {
	g := &gen{Context: ctx, index: map[string]int{}}
	g.table = ctx.StaticGlobal("rowconst")
	ctx.DataAttributes(attr.RODATA | attr.NOPTR)
	for i, c := range constants {
		g.index[c.name] = i
		for l := range 8 {
			ctx.AddDatum(32*i+4*l, operand.U32(c.bits))
		}
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

// k returns the constant name as a 32-byte memory operand.
func (g *gen) k(name string) operand.Mem {
	i, ok := g.index[name]
	if !ok {
		panic("rows: no constant " + name)
	}
	return g.table.Offset(32 * i)
}

// kreg loads constant name into a new register.
func (g *gen) kreg(name string) reg.VecVirtual {
	r := g.YMM()
	g.VMOVUPS(g.k(name), r)
	return r
}

// exp returns e^z for z ≤ 0 (NaN-free: z is clamped to [expMin, ∞)); z is
// not modified.
//
// z = n·ln2 + r with n = round(z·log2 e), |r| ≤ ln2/2, and e^z = 2^n·e^r.
// 2^n is applied as 2^⌊n/2⌋·2^(n−⌊n/2⌋), two normal powers of two, so results
// down to float32's subnormals come out right instead of wrapping.
func (g *gen) exp(z reg.VecVirtual) reg.VecVirtual {
	zc := g.YMM()
	g.VMAXPS(g.k("expMin"), z, zc)
	n := g.YMM()
	g.VMULPS(g.k("log2e"), zc, n)
	g.VCVTPS2DQ(n, n) // round to nearest (MXCSR default)
	nf := g.YMM()
	g.VCVTDQ2PS(n, nf)
	g.VFNMADD231PS(g.k("ln2Hi"), nf, zc) // zc −= n·ln2Hi (exact)
	g.VFNMADD231PS(g.k("ln2Lo"), nf, zc) // r = zc − n·ln2Lo
	p := g.kreg("exp7")
	for _, c := range []string{"exp6", "exp5", "exp4", "exp3", "exp2", "one", "one"} {
		g.VFMADD213PS(g.k(c), zc, p) // p = p·r + c
	}
	n1 := g.YMM()
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
	u := g.YMM()
	g.VANDPS(g.k("absMask"), x, u)
	den := g.YMM()
	g.VADDPS(g.k("threeHalf"), u, den)
	t := g.kreg("threeHalf")
	g.VDIVPS(den, t, t) // t = 3.5/(3.5 + |x|)
	poly := g.kreg(millsName(0))
	for i := 1; i < len(millsCoef); i++ {
		g.VFMADD213PS(g.k(millsName(i)), t, poly)
	}
	g.VMULPS(t, poly, poly) // Mills ratio R(|x|)

	xc = g.YMM()
	g.VMAXPS(g.k("negForty"), x, xc)
	g.VMINPS(g.k("forty"), xc, xc)
	h := g.YMM()
	g.VMULPS(xc, xc, h)
	l := g.YMM()
	g.VMOVAPS(xc, l)
	g.VFMSUB213PS(h, xc, l) // l = xc·xc − h, exactly
	g.VMULPS(g.k("negHalf"), h, h)
	e := g.exp(h)
	g.VMULPS(g.k("negHalf"), l, l)
	g.VFMADD231PS(l, e, e) // e·(1 − l/2)
	pdf = g.YMM()
	g.VMULPS(g.k("invSqrt2Pi"), e, pdf)
	q = g.YMM()
	g.VMULPS(pdf, poly, q)
	return q, pdf, xc
}

// elem addresses element i of the float32 array at p.
func elem(p, i reg.GPVirtual) operand.Mem { return operand.Mem{Base: p, Index: i, Scale: 4} }

// access loads and stores the 8 elements at index i of a row, all of them
// (mask nil) or the lanes set in mask.
type access struct {
	g    *gen
	i    reg.GPVirtual
	mask reg.VecVirtual
}

func (a access) load(p reg.GPVirtual) reg.VecVirtual {
	v := a.g.YMM()
	if a.mask == nil {
		a.g.VMOVUPS(elem(p, a.i), v)
	} else {
		a.g.VMASKMOVPS(elem(p, a.i), a.mask, v)
	}
	return v
}

func (a access) store(v reg.VecVirtual, p reg.GPVirtual) {
	if a.mask == nil {
		a.g.VMOVUPS(v, elem(p, a.i))
	} else {
		a.g.VMASKMOVPS(v, a.mask, elem(p, a.i))
	}
}

// rowLoop emits a loop over n elements in blocks of 8, then the masked tail:
// body is emitted twice, for full blocks and for the tail.
func (g *gen) rowLoop(n reg.GPVirtual, name string, body func(a access)) {
	i := g.GP64()
	g.XORQ(i, i)
	n8 := g.GP64()
	g.MOVQ(n, n8)
	g.ANDQ(operand.I32(-8), n8)
	g.JMP(operand.LabelRef(name + "_check"))
	g.Label(name + "_block")
	body(access{g: g, i: i})
	g.ADDQ(operand.I32(8), i)
	g.Label(name + "_check")
	g.CMPQ(i, n8)
	g.JL(operand.LabelRef(name + "_block"))

	g.CMPQ(i, n)
	g.JGE(operand.LabelRef(name + "_done"))
	body(access{g: g, i: i, mask: g.tailMask(n, i)})
	g.Label(name + "_done")
}

// tailMask returns the lane mask of the n − i < 8 elements from index i.
func (g *gen) tailMask(n, i reg.GPVirtual) reg.VecVirtual {
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

func genRows(ctx *build.Context) {
	g := newGen(ctx)
	genGELU(g)
	genGELUBackward(g, false)
	genGELUBackward(g, true)
	genSoftmax(g)
	genSoftmaxBackward(g)
	genAdd(g)
	genLayerNormStats(g)
	genLayerNormRows(g)
}

// genGELU writes geluAVX2(y, x, n): y[j] = x[j]·Φ(x[j]), the formula of
// kernels.geluRow: y = x − x·q for x ≥ 0 and x·q below, q = Φ(−|x|).
func genGELU(g *gen) {
	g.Function("geluAVX2")
	g.Attributes(attr.NOSPLIT)
	g.Pragma("noescape")
	g.SignatureExpr("func(y, x *float32, n int)")
	g.Doc("geluAVX2 sets y[j] = gelu(x[j]) for j < n (exact erf form).")
	y := g.Load(g.Param("y"), g.GP64()).(reg.GPVirtual)
	x := g.Load(g.Param("x"), g.GP64()).(reg.GPVirtual)
	n := g.Load(g.Param("n"), g.GP64()).(reg.GPVirtual)
	g.rowLoop(n, "gelu", func(a access) {
		xv := a.load(x)
		q, _, xq := g.normalTail(xv)
		g.VMULPS(q, xq, xq)
		pos := g.YMM()
		g.VSUBPS(xq, xv, pos)       // x − x·q
		g.VBLENDVPS(xv, xq, pos, q) // sign of x picks x·q
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
		g.Function("geluBiasBackwardAVX2")
		g.SignatureExpr("func(dx, db, x, dy *float32, n int)")
		g.Doc("geluBiasBackwardAVX2 adds dy[j]·gelu'(x[j]) into dx[j] and db[j] for j < n.")
	} else {
		g.Function("geluBackwardAVX2")
		g.SignatureExpr("func(dx, x, dy *float32, n int)")
		g.Doc("geluBackwardAVX2 adds dy[j]·gelu'(x[j]) into dx[j] for j < n.")
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
		g.VBLENDVPS(xv, q, omq, omq) // Φ(x)
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
	g.Function("softmaxAVX2")
	g.Attributes(attr.NOSPLIT)
	g.Pragma("noescape")
	g.SignatureExpr("func(y, x *float32, n int, scale float32)")
	g.Doc("softmaxAVX2 sets y[:n] = softmax(scale·x[:n]) for n ≥ 1, scale ≥ 0.")
	y := g.Load(g.Param("y"), g.GP64()).(reg.GPVirtual)
	x := g.Load(g.Param("x"), g.GP64()).(reg.GPVirtual)
	n := g.Load(g.Param("n"), g.GP64()).(reg.GPVirtual)
	sx := g.XMM()
	g.Load(g.Param("scale"), sx)
	scale := g.YMM()
	g.VBROADCASTSS(sx, scale)

	// Pass 1: the row max. Masked-off tail lanes become −Inf.
	mx := g.kreg("negInf")
	g.rowLoop(n, "smMax", func(a access) {
		v := a.load(x)
		if a.mask != nil {
			g.VBLENDVPS(a.mask, v, mx, v) // mx ≤ max(mx, anything)
		}
		g.VMAXPS(v, mx, mx)
	})
	g.horizontal(mx, g.VMAXPS)

	// Pass 2: e = exp(scale·(x − max)) into y, and its sum; masked-off
	// tail lanes are zeroed before summing. The exponent is carried as
	// zh + zl (TwoSum for x − max, FMA for the product): rounding it to
	// float32 would cost |z|·6e-8 relative, 5e-6 at z = −80.
	sum := g.YMM()
	g.VXORPS(sum, sum, sum)
	g.rowLoop(n, "smExp", func(a access) {
		v := a.load(x)
		dh := g.YMM()
		g.VSUBPS(mx, v, dh) // dh = x − max, rounded
		bv := g.YMM()
		g.VSUBPS(v, dh, bv) // TwoSum: the part of dh from −max
		av := g.YMM()
		g.VSUBPS(bv, dh, av) // and from x
		g.VSUBPS(av, v, v)
		g.VADDPS(mx, bv, bv)
		g.VSUBPS(bv, v, v) // dl = (x − av) + (−max − bv): dh + dl = x − max
		zh := g.YMM()
		g.VMULPS(scale, dh, zh)
		g.VFMSUB213PS(zh, scale, dh) // scale·dh − zh, exactly
		g.VFMADD231PS(v, scale, dh)  // zl = that + scale·dl
		// An infinite logit makes zl NaN (Inf − Inf); then e^zh is 0 or
		// NaN already, so turn zl into a number rather than let it spread.
		g.VMAXPS(g.k("negOne"), dh, dh)
		e := g.exp(zh)
		g.VFMADD231PS(dh, e, e) // e^zh·(1 + zl)
		if a.mask != nil {
			g.VANDPS(a.mask, e, e)
		}
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

// horizontal reduces the 8 lanes of v with op (VMAXPS or VADDPS) and
// broadcasts the result back into all lanes of v.
func (g *gen) horizontal(v reg.VecVirtual, op func(ops ...operand.Op)) {
	hi := g.XMM()
	g.VEXTRACTF128(operand.U8(1), v, hi)
	lo := v.AsX()
	op(hi, lo, lo)
	g.VPERMILPS(operand.U8(0x4e), lo, hi) // swap the 64-bit halves
	op(hi, lo, lo)
	g.VPERMILPS(operand.U8(0xb1), lo, hi) // swap neighbouring lanes
	op(hi, lo, lo)
	g.VBROADCASTSS(lo, v)
}
