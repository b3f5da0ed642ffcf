package train

import (
	"fmt"
	"math"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/data"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Model is what the Trainer trains: a module tree whose ForwardBatch maps
// a batch to logits (one row per target of the batch) and whose Backward
// takes dL/dlogits of the last forward and accumulates into the gradients
// of the trainable parameters. Backward may return dL/dinput; the Trainer
// ignores it. Every models.Model is one.
type Model interface {
	nn.Module
	ForwardBatch(b *data.Batch) *tensor.Tensor
	Backward(dlogits *tensor.Tensor) *tensor.Tensor
}

// EvalResult is the mean cross-entropy loss and the accuracy over the
// scored targets of a dataset (one per example for classification, one
// per token for language modelling).
type EvalResult struct {
	Loss     float64 `json:"loss"`
	Accuracy float64 `json:"accuracy"`
	Examples int     `json:"examples"`
	Targets  int     `json:"targets"`
}

// Perplexity is exp(Loss), the usual figure for language models.
func (e EvalResult) Perplexity() float64 { return math.Exp(e.Loss) }

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
	s, err := evalRange(m, ds, batchSize, 0, n)
	if err != nil {
		return EvalResult{}, err
	}
	return s.result(n)
}

// evalSums are an evaluation's loss sum and counts, which add over parts.
type evalSums struct {
	loss             float64
	correct, targets int
}

func (s evalSums) result(n int) (EvalResult, error) {
	if s.targets == 0 {
		return EvalResult{}, fmt.Errorf("train: evaluation set has no scored targets")
	}
	return EvalResult{Loss: s.loss / float64(s.targets), Accuracy: float64(s.correct) / float64(s.targets), Examples: n, Targets: s.targets}, nil
}

// evalRange evaluates examples [from, to) of ds.
func evalRange(m Model, ds Dataset, batchSize, from, to int) (evalSums, error) {
	var s evalSums
	if to <= from {
		return s, nil
	}
	nn.SetTraining(m, false)
	defer nn.SetTraining(m, true)
	b := min(batchSize, to-from)
	var bt data.Batch
	idx := make([]int, b)
	var loss nn.CrossEntropyLoss
	for lo := from; lo < to; lo += b {
		k := min(b, to-lo)
		for i := range k {
			idx[i] = lo + i
		}
		ds.Fill(&bt, idx[:k])
		valid := bt.ValidTargets()
		if valid == 0 {
			continue
		}
		logits := m.ForwardBatch(&bt)
		l, err := loss.Forward(logits, bt.Targets)
		if err != nil {
			return s, fmt.Errorf("train: evaluation: %w", err)
		}
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return s, fmt.Errorf("train: evaluation loss is %v on examples %d-%d", l, lo, lo+k-1)
		}
		s.loss += l * float64(valid)
		s.targets += valid
		s.correct += countCorrect(logits, bt.Targets)
	}
	return s, nil
}

// evaluateOn is Evaluate split over the ranks of c: each evaluates its
// consecutive part of ds, and the sums are added (float64, so the result
// is Evaluate's up to rounding).
func evaluateOn(c collective.Comm, m Model, ds Dataset, batchSize int) (EvalResult, error) {
	if c.Size() == 1 {
		return Evaluate(m, ds, batchSize)
	}
	n := ds.Len()
	if n == 0 {
		return EvalResult{}, fmt.Errorf("train: evaluation set is empty")
	}
	if batchSize < 1 {
		return EvalResult{}, fmt.Errorf("train: evaluation batch size %d < 1", batchSize)
	}
	r, w := c.Rank(), c.Size()
	s, err := evalRange(m, ds, batchSize, r*n/w, (r+1)*n/w)
	if err != nil {
		return EvalResult{}, err
	}
	sum := []float64{s.loss, float64(s.correct), float64(s.targets)}
	if err := c.AllReduceSum64(sum); err != nil {
		return EvalResult{}, fmt.Errorf("train: evaluation: %w", err)
	}
	return evalSums{loss: sum[0], correct: int(sum[1]), targets: int(sum[2])}.result(n)
}

// countCorrect counts the rows whose arg-max logit is the target.
func countCorrect(logits *tensor.Tensor, targets []int32) int {
	c := logits.Dim(-1)
	v := logits.F32()
	n := 0
	for i, lab := range targets {
		if lab != data.IgnoreIndex && Argmax(v[i*c:(i+1)*c]) == int(lab) {
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
