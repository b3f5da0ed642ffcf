package lora

import (
	"fmt"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft"
)

// CheckFactorBytes checks, before any factor is allocated, the bytes of the
// low-rank factors a method adds beside each target Linear: rank(name) ×
// (in + out + extra) values per layer (LoRA: A [r, in] and B [out, r], extra
// 0; AdaLoRA adds E [r, 1], extra 1). They must fit in the memory available
// with their gradients (8 bytes per value), and, when stored >= 0, in an
// adapter file of that many bytes (2 bytes or more per stored value). The
// error names the method, the largest layer, its rank and sizes, and the
// bytes. The LoRA-family methods share it so that their ranks are bounded
// the same way.
func CheckFactorBytes(method string, targets []nn.Slot, rank func(name string) int, extra int, stored int64) error {
	var total, largest int64
	var what string
	for _, s := range targets {
		l, ok := baseLinear(*s.Layer)
		if !ok {
			continue
		}
		r := rank(s.Name)
		n := sizecheck.Mul(int64(r), sizecheck.Add(int64(l.In), int64(l.Out), int64(extra)))
		total = sizecheck.Add(total, n)
		if n > largest || what == "" {
			largest = n
			what = fmt.Sprintf("r %d on %s (in %d, out %d)", r, s.Name, l.In, l.Out)
		}
	}
	if what == "" {
		return nil
	}
	if len(targets) > 1 {
		what += fmt.Sprintf(" and %d more layers", len(targets)-1)
	}
	what = method + ": the low-rank factors of " + what
	if stored >= 0 {
		if err := sizecheck.FileHolds(what+" at 2 bytes or more per value", sizecheck.Mul(2, total), peft.WeightsName, stored); err != nil {
			return err
		}
	}
	return sizecheck.Memory(what+", with their gradients,", sizecheck.Mul(8, total))
}
