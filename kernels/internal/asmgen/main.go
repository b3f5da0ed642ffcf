// Command asmgen writes golora's GEMM assembly with avo: the AVX2/FMA
// micro-kernels (gemm_amd64.s), the AVX-512 ones (gemm512_amd64.s) and the
// FMA peak loops on ymm and zmm registers (peak_amd64.s), each with its Go
// declarations (gemm_stub_amd64.go, gemm512_stub_amd64.go,
// peak_stub_amd64.go).
//
// It is its own module so that golora itself does not depend on avo; run it
// through "go generate" in package kernels:
//
//	go run -C internal/asmgen . -dir ../..
package main

import (
	"flag"
	"fmt"
	"github.com/golora/golora/kernels/internal/asmgen/emit"
	"os"
	"path/filepath"

	"github.com/mmcloughlin/avo/build"
)

// constraint keeps the assembly out of purego builds; the Go side picks a
// pure-Go kernel there and on CPUs without AVX2/FMA.
const constraint = "amd64,!purego" // avo takes the old "+build" syntax

func main() {
	dir := flag.String("dir", ".", "directory of package kernels, where the files are written")
	flag.Parse()

	files := []struct {
		base string
		gen  func(*build.Context)
	}{
		{"gemm", genGemm(ymmTile)},
		{"gemm512", func(ctx *build.Context) {
			genGemm(zmmTile)(ctx)
			genGemm(zmmNarrowTile)(ctx)
		}},
		{"peak", genPeak},
	}
	for _, f := range files {
		ctx := build.NewContext()
		ctx.ConstraintExpr(constraint)
		f.gen(ctx)
		if err := emit.Write(ctx, "kernels/internal/asmgen", filepath.Join(*dir, f.base+"_amd64.s"), filepath.Join(*dir, f.base+"_stub_amd64.go")); err != nil {
			fmt.Fprintf(os.Stderr, "asmgen: %s: %v\n", f.base, err)
			os.Exit(1)
		}
	}
}
