package main

import (
	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// peakAccumulators independent FMA chains hide the FMA latency (4 cycles on
// Zen3) on both FMA pipes: 8 would suffice, 12 leave margin.
const (
	peakAccumulators = 12
	peakUnroll       = 2
)

// genPeak writes fmaPeak(n): n iterations of peakAccumulators·peakUnroll
// independent VFMADD231PS on ymm registers, 16 flops each, nothing else.
func genPeak(ctx *build.Context) {
	ctx.Function("fmaPeak")
	ctx.Attributes(attr.NOSPLIT)
	ctx.SignatureExpr("func(n int)")
	ctx.Doc("fmaPeak runs n iterations of 24 independent 8-wide FMAs (384 flops).")

	n := ctx.Load(ctx.Param("n"), ctx.GP64())
	x, y := ctx.YMM(), ctx.YMM()
	ctx.VXORPS(x, x, x)
	ctx.VXORPS(y, y, y)
	acc := make([]reg.VecVirtual, peakAccumulators)
	for i := range acc {
		acc[i] = ctx.YMM()
		ctx.VXORPS(acc[i], acc[i], acc[i])
	}
	ctx.TESTQ(n, n)
	ctx.JZ(operand.LabelRef("done"))
	ctx.Label("loop")
	for u := 0; u < peakUnroll; u++ {
		for i := range acc {
			ctx.VFMADD231PS(x, y, acc[i])
		}
	}
	ctx.DECQ(n)
	ctx.JNZ(operand.LabelRef("loop"))
	ctx.Label("done")
	ctx.VZEROUPPER()
	ctx.RET()
}
