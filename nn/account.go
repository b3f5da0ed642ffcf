package nn

import (
	"github.com/golora/golora/memory"
)

// AccountWeights sets memory's weight gauges to the bytes of every
// parameter value under root, by storage dtype (quantised weights with
// their scales), and returns them.
func AccountWeights(root Module) memory.Bytes {
	var b memory.Bytes
	for _, p := range AllParams(root) {
		b[memory.WeightsOf(p.Value.DType())] += p.Value.Bytes()
	}
	memory.SetWeights(b)
	return b
}
