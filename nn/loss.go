package nn

import (
	"fmt"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// IgnoreIndex is the target that contributes no loss (torch's default
// ignore_index).
const IgnoreIndex = kernels.IgnoreIndex

// CrossEntropyLoss is torch.nn.CrossEntropyLoss with reduction "mean" and
// ignore_index -100: the mean negative log-likelihood over the rows whose
// target is not IgnoreIndex. It saves the softmax probabilities, which are
// all its backward needs.
type CrossEntropyLoss struct {
	rows, cols int
	n          int // rows that count
	targets    []int32
	probs      *tensor.Tensor
	dlogits    *tensor.Tensor
}

// Forward returns the mean loss of logits [rows, classes] (any leading
// shape) against targets (one per row). A target outside [0, classes) that
// is not IgnoreIndex is an error naming its row: labels come from data.
// With every row ignored the loss is 0 (torch returns NaN).
func (c *CrossEntropyLoss) Forward(logits *tensor.Tensor, targets []int32) (float64, error) {
	cols := logits.Dim(-1)
	rows := logits.Len() / cols
	if len(targets) != rows {
		return 0, fmt.Errorf("nn: cross-entropy: %d targets for %d rows of logits %v", len(targets), rows, logits)
	}
	for r, t := range targets {
		if t != IgnoreIndex && (t < 0 || int(t) >= cols) {
			return 0, fmt.Errorf("nn: cross-entropy: target %d of row %d is outside [0,%d)", t, r, cols)
		}
	}
	c.rows, c.cols = rows, cols
	c.targets = append(c.targets[:0], targets...)
	c.probs = ReuseAs(memory.Activations, c.probs, rows, cols)
	loss, n := kernels.CrossEntropyForward(c.probs.F32(), logits.F32(), c.targets, rows, cols)
	c.n = n
	return loss, nil
}

// Count is the number of rows of the last Forward that were not ignored.
func (c *CrossEntropyLoss) Count() int { return c.n }

// Backward returns dLoss/dlogits [rows, classes] for the last Forward, for
// dLoss = 1: (softmax − onehot)/n on counted rows, 0 on ignored ones.
func (c *CrossEntropyLoss) Backward() *tensor.Tensor {
	if c.probs == nil {
		panic("nn: cross-entropy: Backward before Forward")
	}
	c.dlogits = ReuseAs(memory.Workspace, c.dlogits, c.rows, c.cols)
	d := c.dlogits.F32()
	clear(d)
	if c.n > 0 {
		kernels.CrossEntropyBackward(d, c.probs.F32(), c.targets, c.rows, c.cols, 1/float32(c.n))
	}
	return c.dlogits
}

// Plan declares the buffers of a Forward and Backward on logits of shape
// in: the probabilities (activation) and dlogits (workspace).
func (c *CrossEntropyLoss) Plan(in []int, backward bool) Cost {
	var k Cost
	n := tensor.NumElems(in)
	rows := n / in[len(in)-1]
	k.f32(memory.Activations, n)
	k.Ran(Rows(OpCrossEntropy, rows, in[len(in)-1]))
	if backward {
		k.f32(memory.Workspace, n)
		k.Ran(Elementwise(OpClear, n))
		k.Ran(Rows(OpCrossEntropyBackward, rows, in[len(in)-1]))
	}
	return k
}
