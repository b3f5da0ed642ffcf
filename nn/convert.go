package nn

import "github.com/golora/golora/tensor"

// ConvertFrozenLinears stores the weight of every frozen Linear under root
// in dtype dt (bf16 halves their memory; the GEMM widens while packing) and
// returns the bytes saved (negative when widening). Trainable weights, biases
// and every other parameter stay as they are, so call it after deciding
// what trains: a converted weight must be widened back before training.
func ConvertFrozenLinears(root Module, dt tensor.DType) int64 {
	var saved int64
	_ = Walk(root, func(m Module) error {
		l, ok := m.(*Linear)
		if !ok || l.Weight.Trainable || l.Weight.Value.DType() == dt {
			return nil
		}
		before := l.Weight.Value.Bytes()
		l.Weight.Value = l.Weight.Value.To(dt)
		saved += before - l.Weight.Value.Bytes()
		return nil
	})
	return saved
}
