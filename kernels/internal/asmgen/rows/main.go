// Command rows writes golora's AVX2/FMA row kernels with avo (GELU forward
// and backward in the exact erf form, softmax forward and backward, the
// LayerNorm rows, elementwise adds) to rows_amd64.s, with their Go
// declarations in rows_stub_amd64.go. It is separate from the GEMM
// generator (package main one directory up) so each owns its output files.
//
// Run it through "go generate" in package kernels:
//
//	go run -C internal/asmgen ./rows -dir ../..
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
)

// constraint keeps the assembly out of purego builds; the Go side falls back
// to its pure-Go row loops there and on CPUs without AVX2/FMA.
const constraint = "amd64,!purego" // avo takes the old "+build" syntax

func main() {
	dir := flag.String("dir", ".", "directory of package kernels, where the files are written")
	flag.Parse()
	ctx := build.NewContext()
	ctx.ConstraintExpr(constraint)
	genRows(ctx)
	if err := write(ctx, filepath.Join(*dir, "rows_amd64.s"), filepath.Join(*dir, "rows_stub_amd64.go")); err != nil {
		fmt.Fprintf(os.Stderr, "rows: %v\n", err)
		os.Exit(1)
	}
}

// write compiles ctx (register allocation) and prints the assembly and the
// Go stubs, leaving files whose content is unchanged untouched.
func write(ctx *build.Context, asmPath, stubPath string) error {
	f, err := ctx.Result()
	if err != nil {
		return err
	}
	if err := pass.Compile.Execute(f); err != nil {
		return err
	}
	cfg := printer.Config{Name: "kernels/internal/asmgen/rows", Pkg: "kernels"}
	for _, out := range []struct {
		path string
		p    printer.Printer
	}{
		{asmPath, printer.NewGoAsm(cfg)},
		{stubPath, printer.NewStubs(cfg)},
	} {
		b, err := out.p.Print(f)
		if err != nil {
			return fmt.Errorf("print %s: %w", out.path, err)
		}
		if old, err := os.ReadFile(out.path); err == nil && bytes.Equal(old, b) {
			continue
		}
		if err := os.WriteFile(out.path, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
