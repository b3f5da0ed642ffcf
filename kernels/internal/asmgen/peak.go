package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// peakAccumulators independent FMA chains hide the FMA latency (4 cycles on
// Zen3-Zen5) on both FMA pipes: 8 would suffice, 12 leave margin.
const (
	peakAccumulators = 12
	peakUnroll       = 2
)

// genPeak writes fmaPeak(n) on ymm and fmaPeakAVX512(n) on zmm registers:
// n iterations of peakAccumulators·peakUnroll independent VFMADD231PS,
// nothing else.
func genPeak(ctx *build.Context) {
	peak(ctx, ymmTile)
	peak(ctx, zmmTile)
}

func peak(ctx *build.Context, t tile) {
	name := "fmaPeak" + t.suffix
	ctx.Function(name)
	ctx.Attributes(attr.NOSPLIT)
	ctx.SignatureExpr("func(n int)")
	ctx.Doc(fmt.Sprintf("%s runs n iterations of %d independent %d-wide FMAs (%d flops).",
		name, peakAccumulators*peakUnroll, t.lanes(), peakAccumulators*peakUnroll*t.lanes()*2))

	n := ctx.Load(ctx.Param("n"), ctx.GP64())
	x, y := t.vec(ctx), t.vec(ctx)
	t.zero(ctx, x)
	t.zero(ctx, y)
	acc := make([]reg.VecVirtual, peakAccumulators)
	for i := range acc {
		acc[i] = t.vec(ctx)
		t.zero(ctx, acc[i])
	}
	ctx.TESTQ(n, n)
	ctx.JZ(operand.LabelRef(name + "_done"))
	ctx.Label(name + "_loop")
	for u := 0; u < peakUnroll; u++ {
		for i := range acc {
			ctx.VFMADD231PS(x, y, acc[i])
		}
	}
	ctx.DECQ(n)
	ctx.JNZ(operand.LabelRef(name + "_loop"))
	ctx.Label(name + "_done")
	ctx.VZEROUPPER()
	ctx.RET()
}
