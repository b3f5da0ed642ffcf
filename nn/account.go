package nn

import (
	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// AccountWeights sets memory's weight gauges to the bytes of every
// parameter value under root, by dtype, and returns them.
func AccountWeights(root Module) (f32, bf16 int64) {
	for _, p := range AllParams(root) {
		if p.Value.DType() == tensor.BF16 {
			bf16 += p.Value.Bytes()
		} else {
			f32 += p.Value.Bytes()
		}
	}
	memory.SetWeights(f32, bf16)
	return f32, bf16
}
