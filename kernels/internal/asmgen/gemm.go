package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// tile describes one register-tiled micro-kernel: mr rows × nvec vectors of
// C live in accumulators for the whole k loop.
type tile struct {
	suffix string // appended to the function names
	zmm    bool   // 16-lane AVX-512 vectors, else 8-lane AVX2
	mr     int
	nvec   int
	// bcst broadcasts A from memory inside each FMA (AVX-512 embedded
	// broadcast) instead of into a register first.
	bcst bool
}

// ymmTile is the AVX2/FMA kernel: 6 rows × 16 columns of C in 12 ymm
// accumulators; two ymm hold a 16-wide row of the B panel and one the
// broadcast A element, 15 of the 16 ymm registers. Per k step: 2 B loads, 6
// broadcasts, 12 FMAs.
var ymmTile = tile{mr: 6, nvec: 2}

// zmmTile is the AVX-512 kernel, chosen by measurement on Zen5 (see
// kernels/gemm_kernel.go): zmmMR rows × 32 columns of C in 2·zmmMR zmm
// accumulators, two zmm for the B row, A broadcast into a register. Per k
// step: 2 B loads, 8 broadcasts, 16 FMAs, 8 cycles on two 512-bit FMA
// pipes, with 16 independent accumulators to cover the FMA latency.
var zmmTile = tile{suffix: "AVX512", zmm: true, mr: zmmMR, nvec: 2}

// zmmNarrowTile is the AVX-512 kernel for products at most 16 columns wide
// (the rank-16 LoRA down-projection), where a 32-wide tile would compute
// half zeros: zmmNarrowMR rows × 16 columns, one zmm accumulator per row.
var zmmNarrowTile = tile{suffix: "AVX512N", zmm: true, mr: zmmNarrowMR, nvec: 1}

const (
	zmmMR       = 8
	zmmNarrowMR = 16
)

func (t tile) lanes() int {
	if t.zmm {
		return 16
	}
	return 8
}

// nr is the tile width in floats (a B panel's row).
func (t tile) nr() int { return t.lanes() * t.nvec }

func (t tile) vec(ctx *build.Context) reg.VecVirtual {
	if t.zmm {
		return ctx.ZMM()
	}
	return ctx.YMM()
}

func (t tile) zero(ctx *build.Context, v reg.VecVirtual) {
	if t.zmm {
		ctx.VPXORD(v, v, v)
		return
	}
	ctx.VXORPS(v, v, v)
}

// genGemm writes the two micro-kernels of a tile. Both compute the
// mr×nr tile
//
//	C = alpha·(A·B) + beta·C      (C not read when beta == ±0)
//
// where B is a packed panel (k rows of nr floats) and A is either a packed
// panel (k columns of mr floats, gemmKernelPacked) or any strided mr×k block
// (gemmKernelStrided: element (i, p) at a[i·rsa + p·csa]), which lets the
// driver skip packing A when A is f32 and little reused.
func genGemm(t tile) func(ctx *build.Context) {
	return func(ctx *build.Context) {
		kernel(ctx, t, true)
		kernel(ctx, t, false)
	}
}

// rowBases returns one base register per group of 3 rows: base g addresses
// row 3g of the block at p, and rows 3g+1, 3g+2 through index s (the row
// stride in bytes) scaled by 1 and 2.
func rowBases(ctx *build.Context, p, s reg.GPVirtual, rows int) []reg.GPVirtual {
	bases := []reg.GPVirtual{p}
	for g := 1; g*3 < rows; g++ {
		b := ctx.GP64()
		ctx.LEAQ(operand.Mem{Base: s, Index: s, Scale: 2}, b)
		ctx.ADDQ(bases[g-1], b)
		bases = append(bases, b)
	}
	return bases
}

// rowMem addresses row i of a block from rowBases at byte offset off.
func rowMem(bases []reg.GPVirtual, s reg.GPVirtual, i, off int) operand.Mem {
	m := operand.Mem{Base: bases[i/3], Disp: off}
	if i%3 > 0 {
		m.Index, m.Scale = s, uint8(i%3)
	}
	return m
}

func kernel(ctx *build.Context, t tile, packed bool) {
	mr, nr := t.mr, t.nr()
	vb := 4 * t.lanes() // bytes per vector
	if packed {
		ctx.Function("gemmKernelPacked" + t.suffix)
		ctx.SignatureExpr("func(k int, a, b, c *float32, ldc int, alpha, beta float32)")
		ctx.Doc(fmt.Sprintf("gemmKernelPacked%s computes the %d×%d tile c = alpha·a·b + beta·c from", t.suffix, mr, nr),
			fmt.Sprintf("a packed A panel (k×%d) and a packed B panel (k×%d); ldc is in elements.", mr, nr))
	} else {
		ctx.Function("gemmKernelStrided" + t.suffix)
		ctx.SignatureExpr("func(k int, a *float32, rsa, csa int, b, c *float32, ldc int, alpha, beta float32)")
		ctx.Doc(fmt.Sprintf("gemmKernelStrided%s is gemmKernelPacked%s with A element (i, p) read at", t.suffix, t.suffix),
			"a[i*rsa + p*csa], so f32 A needs no packing.")
	}
	ctx.Attributes(attr.NOSPLIT)
	ctx.Pragma("noescape")

	k := ctx.Load(ctx.Param("k"), ctx.GP64())
	a := ctx.Load(ctx.Param("a"), ctx.GP64())
	b := ctx.Load(ctx.Param("b"), ctx.GP64())
	// The tile is read (beta != 0) or written after the loop: start
	// fetching its lines now, row after row. A row may straddle one more
	// line than it fills.
	{
		p := ctx.Load(ctx.Param("c"), ctx.GP64())
		ldc := ctx.Load(ctx.Param("ldc"), ctx.GP64())
		ctx.SHLQ(operand.U8(2), ldc)
		for i := 0; i < mr; i++ {
			if i > 0 {
				ctx.ADDQ(ldc, p)
			}
			for off := 0; off < 4*nr-1; off += 64 {
				ctx.PREFETCHT0(operand.Mem{Base: p, Disp: off})
			}
			ctx.PREFETCHT0(operand.Mem{Base: p, Disp: 4*nr - 1})
		}
	}

	acc := make([][]reg.VecVirtual, mr)
	for i := range acc {
		acc[i] = make([]reg.VecVirtual, t.nvec)
		for j := range acc[i] {
			acc[i][j] = t.vec(ctx)
			t.zero(ctx, acc[i][j])
		}
	}
	bv := make([]reg.VecVirtual, t.nvec)
	for j := range bv {
		bv[j] = t.vec(ctx)
	}
	av := t.vec(ctx)
	// step emits one k step: B row at b+boff, A column via arow(i).
	step := func(boff int, arow func(i int) operand.Mem) {
		for j := range bv {
			ctx.VMOVUPS(operand.Mem{Base: b, Disp: boff + vb*j}, bv[j])
		}
		for i := 0; i < mr; i++ {
			if t.bcst {
				for j := range bv {
					ctx.VFMADD231PS_BCST(arow(i), bv[j], acc[i][j])
				}
				continue
			}
			ctx.VBROADCASTSS(arow(i), av)
			for j := range bv {
				ctx.VFMADD231PS(bv[j], av, acc[i][j])
			}
		}
	}

	if packed {
		// Unrolled by 4 with constant displacements, then a 1-step tail.
		const unroll = 4
		n := ctx.GP64()
		ctx.MOVQ(k, n)
		ctx.SHRQ(operand.U8(2), n)
		ctx.JZ(operand.LabelRef("packed_tail"))
		ctx.Label("packed_loop4")
		for u := 0; u < unroll; u++ {
			step(u*4*nr, func(i int) operand.Mem {
				return operand.Mem{Base: a, Disp: 4 * (u*mr + i)}
			})
		}
		ctx.ADDQ(operand.U32(4*mr*unroll), a)
		ctx.ADDQ(operand.U32(4*nr*unroll), b)
		ctx.DECQ(n)
		ctx.JNZ(operand.LabelRef("packed_loop4"))
		ctx.Label("packed_tail")
		ctx.ANDQ(operand.U32(unroll-1), k)
		ctx.JZ(operand.LabelRef("packed_store"))
		ctx.Label("packed_loop1")
		step(0, func(i int) operand.Mem { return operand.Mem{Base: a, Disp: 4 * i} })
		ctx.ADDQ(operand.U32(4*mr), a)
		ctx.ADDQ(operand.U32(4*nr), b)
		ctx.DECQ(k)
		ctx.JNZ(operand.LabelRef("packed_loop1"))
		ctx.Label("packed_store")
		store(ctx, t, "packed", acc)
		return
	}

	// Strided A: row 3g of the block from base g, rows 3g+1 and 3g+2
	// through rsa, every base advanced by csa per k step.
	rs := ctx.Load(ctx.Param("rsa"), ctx.GP64()).(reg.GPVirtual)
	cs := ctx.Load(ctx.Param("csa"), ctx.GP64())
	ctx.SHLQ(operand.U8(2), rs)
	ctx.SHLQ(operand.U8(2), cs)
	ab := rowBases(ctx, a.(reg.GPVirtual), rs, mr)
	arow := func(i int) operand.Mem { return rowMem(ab, rs, i, 0) }
	ctx.TESTQ(k, k)
	ctx.JZ(operand.LabelRef("strided_store"))
	ctx.Label("strided_loop")
	step(0, arow)
	ctx.ADDQ(operand.U32(4*nr), b)
	for _, base := range ab {
		ctx.ADDQ(cs, base)
	}
	ctx.DECQ(k)
	ctx.JNZ(operand.LabelRef("strided_loop"))
	ctx.Label("strided_store")
	store(ctx, t, "strided", acc)
}

// store writes C = alpha·acc + beta·C, and never reads C when beta is ±0
// so that NaNs in an uninitialised C are overwritten, as in BLAS.
func store(ctx *build.Context, t tile, prefix string, acc [][]reg.VecVirtual) {
	vb := 4 * t.lanes()
	// The row addresses of C, computed only now: the k loop needs the
	// general registers for A.
	c0 := ctx.Load(ctx.Param("c"), ctx.GP64()).(reg.GPVirtual)
	ldc := ctx.Load(ctx.Param("ldc"), ctx.GP64()).(reg.GPVirtual)
	ctx.SHLQ(operand.U8(2), ldc)
	cb := rowBases(ctx, c0, ldc, t.mr)
	crow := func(i, off int) operand.Mem { return rowMem(cb, ldc, i, off) }
	// alpha = 1, the common case, skips the multiplies (they matter when k
	// is small, e.g. the rank-16 up-projection).
	alpha, beta := t.vec(ctx), t.vec(ctx)
	bits := ctx.GP32()
	ctx.MOVL(paramAddr(ctx, "alpha"), bits)
	ctx.CMPL(bits, operand.U32(0x3f800000))
	ctx.JE(operand.LabelRef(prefix + "_scaled"))
	ctx.VBROADCASTSS(paramAddr(ctx, "alpha"), alpha)
	for i := range acc {
		for j := range acc[i] {
			ctx.VMULPS(alpha, acc[i][j], acc[i][j])
		}
	}
	ctx.Label(prefix + "_scaled")
	ctx.MOVL(paramAddr(ctx, "beta"), bits)
	ctx.ANDL(operand.U32(0x7fffffff), bits)
	nobeta := fmt.Sprintf("%s_nobeta", prefix)
	ctx.JZ(operand.LabelRef(nobeta))
	ctx.VBROADCASTSS(paramAddr(ctx, "beta"), beta)
	for i := range acc {
		for j := range acc[i] {
			ctx.VFMADD231PS(crow(i, vb*j), beta, acc[i][j])
			ctx.VMOVUPS(acc[i][j], crow(i, vb*j))
		}
	}
	ctx.VZEROUPPER()
	ctx.RET()
	ctx.Label(nobeta)
	for i := range acc {
		for j := range acc[i] {
			ctx.VMOVUPS(acc[i][j], crow(i, vb*j))
		}
	}
	ctx.VZEROUPPER()
	ctx.RET()
}

// paramAddr is the frame address of a basic-typed argument.
func paramAddr(ctx *build.Context, name string) operand.Mem {
	b, err := ctx.Param(name).Resolve()
	if err != nil {
		panic(fmt.Sprintf("asmgen: argument %s: %v", name, err))
	}
	return b.Addr
}
