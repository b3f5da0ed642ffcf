// Command rows writes golora's row kernels with avo (GELU forward and
// backward in the exact erf form, softmax forward and backward, the
// LayerNorm and RMSNorm rows, SiLU and SwiGLU forward and backward,
// elementwise adds), on AVX2/FMA to rows_amd64.s and on
// AVX-512 to rows512_amd64.s, with their Go declarations in
// rows_stub_amd64.go and rows512_stub_amd64.go. It is separate from the GEMM
// generator (package main one directory up) so each owns its output files.
//
// Run it through "go generate" in package kernels:
//
//	go run -C internal/asmgen ./rows -dir ../..
package main

import (
	"flag"
	"fmt"
	"github.com/golora/golora/kernels/internal/asmgen/emit"
	"os"
	"path/filepath"

	"github.com/mmcloughlin/avo/build"
)

// constraint keeps the assembly out of purego builds; the Go side falls back
// to its pure-Go row loops there and on CPUs without AVX2/FMA.
const constraint = "amd64,!purego" // avo takes the old "+build" syntax

func main() {
	dir := flag.String("dir", ".", "directory of package kernels, where the files are written")
	flag.Parse()
	for _, f := range []struct {
		base string
		zmm  bool
	}{{"rows", false}, {"rows512", true}} {
		ctx := build.NewContext()
		ctx.ConstraintExpr(constraint)
		genRows(ctx, f.zmm)
		if err := emit.Write(ctx, "kernels/internal/asmgen/rows", filepath.Join(*dir, f.base+"_amd64.s"), filepath.Join(*dir, f.base+"_stub_amd64.go")); err != nil {
			fmt.Fprintf(os.Stderr, "rows: %s: %v\n", f.base, err)
			os.Exit(1)
		}
	}
}
