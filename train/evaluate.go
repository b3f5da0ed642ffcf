package train

import (
	"fmt"
	"math"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Model is what the Trainer trains: a module tree whose Forward maps a
// batch of inputs [B, ...] to logits [B, classes] and whose Backward takes
// dL/dlogits of the last Forward and accumulates into the gradients of the
// trainable parameters. Backward may return dL/dx; the Trainer ignores it.
type Model interface {
	nn.Module
	Forward(x *tensor.Tensor) *tensor.Tensor
	Backward(dlogits *tensor.Tensor) *tensor.Tensor
}

// EvalResult is the mean cross-entropy loss and the accuracy over a dataset.
type EvalResult struct {
	Loss     float64 `json:"loss"`
	Accuracy float64 `json:"accuracy"`
	Examples int     `json:"examples"`
}

// Evaluate runs m over every example of ds in order, batchSize at a time
// (the last batch may be smaller), in evaluation mode (no dropout), and
// restores training mode afterwards. A non-finite loss is an error.
func Evaluate(m Model, ds Dataset, batchSize int) (EvalResult, error) {
	n := ds.Len()
	if n == 0 {
		return EvalResult{}, fmt.Errorf("train: evaluation set is empty")
	}
	if batchSize < 1 {
		return EvalResult{}, fmt.Errorf("train: evaluation batch size %d < 1", batchSize)
	}
	nn.SetTraining(m, false)
	defer nn.SetTraining(m, true)
	b := min(batchSize, n)
	bt := newBatch(b, ds.Shape())
	per := len(bt.x) / b
	idx := make([]int, b)
	var loss nn.CrossEntropyLoss
	var sum float64
	correct := 0
	for lo := 0; lo < n; lo += b {
		k := min(b, n-lo)
		for i := range k {
			idx[i] = lo + i
		}
		bt.fill(ds, idx[:k])
		x := tensor.FromF32(bt.x[:k*per], append([]int{k}, bt.shape[1:]...)...)
		logits := m.Forward(x)
		l, err := loss.Forward(logits, bt.labels[:k])
		if err != nil {
			return EvalResult{}, fmt.Errorf("train: evaluation: %w", err)
		}
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return EvalResult{}, fmt.Errorf("train: evaluation loss is %v on examples %d-%d", l, lo, lo+k-1)
		}
		sum += l * float64(k)
		correct += countCorrect(logits, bt.labels[:k])
	}
	return EvalResult{Loss: sum / float64(n), Accuracy: float64(correct) / float64(n), Examples: n}, nil
}

// countCorrect counts the rows whose arg-max logit is the label.
func countCorrect(logits *tensor.Tensor, labels []int32) int {
	c := logits.Dim(-1)
	v := logits.F32()
	n := 0
	for i, lab := range labels {
		if Argmax(v[i*c:(i+1)*c]) == int(lab) {
			n++
		}
	}
	return n
}

// Argmax returns the index of the largest value (the first on ties).
func Argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
