package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The micro-tile: 6 rows × 16 columns of C live in 12 ymm accumulators; two
// ymm hold a 16-wide row of the B panel and one the broadcast A element, 15
// of the 16 ymm registers. Per k step: 2 B loads, 6 broadcasts, 12 FMAs.
const (
	mr = 6
	nr = 16
)

// genGemm writes the two micro-kernels. Both compute the 6×16 tile
//
//	C = alpha·(A·B) + beta·C      (C not read when beta == ±0)
//
// where B is a packed panel (k rows of 16 floats) and A is either a packed
// panel (k columns of 6 floats, gemmKernelPacked) or any strided 6×k block
// (gemmKernelStrided: element (i, p) at a[i·rsa + p·csa]), which lets the
// driver skip packing A when A is f32 and little reused.
func genGemm(ctx *build.Context) {
	kernel(ctx, true)
	kernel(ctx, false)
}

func kernel(ctx *build.Context, packed bool) {
	if packed {
		ctx.Function("gemmKernelPacked")
		ctx.SignatureExpr("func(k int, a, b, c *float32, ldc int, alpha, beta float32)")
		ctx.Doc("gemmKernelPacked computes the 6×16 tile c = alpha·a·b + beta·c from",
			"a packed A panel (k×6) and a packed B panel (k×16); ldc is in elements.")
	} else {
		ctx.Function("gemmKernelStrided")
		ctx.SignatureExpr("func(k int, a *float32, rsa, csa int, b, c *float32, ldc int, alpha, beta float32)")
		ctx.Doc("gemmKernelStrided is gemmKernelPacked with A element (i, p) read at",
			"a[i*rsa + p*csa], so f32 A needs no packing.")
	}
	ctx.Attributes(attr.NOSPLIT)
	ctx.Pragma("noescape")

	k := ctx.Load(ctx.Param("k"), ctx.GP64())
	a := ctx.Load(ctx.Param("a"), ctx.GP64())
	b := ctx.Load(ctx.Param("b"), ctx.GP64())
	c0 := ctx.Load(ctx.Param("c"), ctx.GP64())
	ldc := ctx.Load(ctx.Param("ldc"), ctx.GP64())
	ctx.SHLQ(operand.U8(2), ldc)
	c1 := ctx.GP64() // row 3 of C
	ctx.LEAQ(operand.Mem{Base: ldc, Index: ldc, Scale: 2}, c1)
	ctx.ADDQ(c0, c1)
	crow := func(i, off int) operand.Mem {
		base := c0
		if i >= 3 {
			base = c1
		}
		m := operand.Mem{Base: base, Disp: off}
		if i%3 > 0 {
			m.Index, m.Scale = ldc, uint8(i%3)
		}
		return m
	}
	// The tile is read (beta != 0) or written after the loop: start
	// fetching its lines now. 16 floats may straddle two lines.
	for i := 0; i < mr; i++ {
		ctx.PREFETCHT0(crow(i, 0))
		ctx.PREFETCHT0(crow(i, 4*nr-1))
	}

	acc := make([][2]reg.VecVirtual, mr)
	for i := range acc {
		for j := range acc[i] {
			acc[i][j] = ctx.YMM()
			ctx.VXORPS(acc[i][j], acc[i][j], acc[i][j])
		}
	}
	b0, b1, av := ctx.YMM(), ctx.YMM(), ctx.YMM()
	// step emits one k step: B row at b+boff, A column via arow(i).
	step := func(boff int, arow func(i int) operand.Mem) {
		ctx.VMOVUPS(operand.Mem{Base: b, Disp: boff}, b0)
		ctx.VMOVUPS(operand.Mem{Base: b, Disp: boff + 32}, b1)
		for i := 0; i < mr; i++ {
			ctx.VBROADCASTSS(arow(i), av)
			ctx.VFMADD231PS(b0, av, acc[i][0])
			ctx.VFMADD231PS(b1, av, acc[i][1])
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
		store(ctx, "packed", acc, crow)
		return
	}

	// Strided A: rows 0-2 from a, rows 3-5 from a3 = a + 3·rsa, each base
	// advanced by csa per k step.
	rs := ctx.Load(ctx.Param("rsa"), ctx.GP64())
	cs := ctx.Load(ctx.Param("csa"), ctx.GP64())
	ctx.SHLQ(operand.U8(2), rs)
	ctx.SHLQ(operand.U8(2), cs)
	a3 := ctx.GP64()
	ctx.LEAQ(operand.Mem{Base: rs, Index: rs, Scale: 2}, a3)
	ctx.ADDQ(a, a3)
	arow := func(i int) operand.Mem {
		base := a
		if i >= 3 {
			base = a3
		}
		m := operand.Mem{Base: base}
		if i%3 > 0 {
			m.Index, m.Scale = rs, uint8(i%3)
		}
		return m
	}
	ctx.TESTQ(k, k)
	ctx.JZ(operand.LabelRef("strided_store"))
	ctx.Label("strided_loop")
	step(0, arow)
	ctx.ADDQ(operand.U32(4*nr), b)
	ctx.ADDQ(cs, a)
	ctx.ADDQ(cs, a3)
	ctx.DECQ(k)
	ctx.JNZ(operand.LabelRef("strided_loop"))
	ctx.Label("strided_store")
	store(ctx, "strided", acc, crow)
}

// store writes C = alpha·acc + beta·C, and never reads C when beta is ±0
// so that NaNs in an uninitialised C are overwritten, as in BLAS.
func store(ctx *build.Context, prefix string, acc [][2]reg.VecVirtual, crow func(i, off int) operand.Mem) {
	// alpha = 1, the common case, skips 12 multiplies (they matter when k
	// is small, e.g. the rank-16 up-projection).
	alpha, beta := ctx.YMM(), ctx.YMM()
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
			ctx.VFMADD231PS(crow(i, 32*j), beta, acc[i][j])
			ctx.VMOVUPS(acc[i][j], crow(i, 32*j))
		}
	}
	ctx.VZEROUPPER()
	ctx.RET()
	ctx.Label(nobeta)
	for i := range acc {
		for j := range acc[i] {
			ctx.VMOVUPS(acc[i][j], crow(i, 32*j))
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
