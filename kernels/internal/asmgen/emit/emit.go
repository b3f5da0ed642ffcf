// Package emit writes what an avo build context generated: the Go assembly
// and its Go declaration stubs, shared by golora's kernel generators.
package emit

import (
	"bytes"
	"fmt"
	"os"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
)

// Write compiles ctx (register allocation) and prints the assembly to
// asmPath and the stubs to stubPath for package kernels, naming generator
// as the command that made them. Files whose content is unchanged are left
// untouched, so go generate does not dirty the tree.
func Write(ctx *build.Context, generator, asmPath, stubPath string) error {
	f, err := ctx.Result()
	if err != nil {
		return err
	}
	if err := pass.Compile.Execute(f); err != nil {
		return err
	}
	cfg := printer.Config{Name: generator, Pkg: "kernels"}
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
