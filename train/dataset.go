package train

import (
	"github.com/golora/golora/data"
	"github.com/golora/golora/memory"
)

// Dataset is a labelled set of fixed-size examples: images already
// preprocessed to the model's input, or any other vector.
type Dataset interface {
	// Len is the number of examples.
	Len() int
	// Shape is the shape of one example (e.g. [1, 28, 28]).
	Shape() []int
	// Example writes example i into dst (len = product of Shape) and
	// returns its label.
	Example(i int, dst []float32) int32
}

// EpochSetter is implemented by datasets whose examples depend on the
// epoch (augmentation): the Trainer calls SetEpoch before the first batch
// of every epoch, including the epoch a resumed run starts in.
type EpochSetter interface {
	SetEpoch(epoch int)
}

// epochOrder is the order in which epoch visits the n examples: a
// permutation drawn from (seed, epoch) alone (data.Order, the order of a
// shuffling data.Loader), so a resumed run visits the same examples in the
// same order as an uninterrupted one.
func epochOrder(seed uint64, epoch, n int) []int {
	return data.Order(n, seed, epoch)
}

// batch is a reusable input buffer and its labels.
type batch struct {
	x      []float32
	labels []int32
	shape  []int // [B, example shape...]
}

// newBatch allocates a batch of b examples, counted as memory.Data while
// it lives.
func newBatch(b int, example []int) *batch {
	n := b
	for _, d := range example {
		n *= d
	}
	return &batch{x: memory.Alloc(memory.Data, n), labels: memory.AllocInt32(memory.Data, b), shape: append([]int{b}, example...)}
}

// fill loads examples idx into the batch (len(idx) must be its size).
func (bt *batch) fill(ds Dataset, idx []int) {
	per := len(bt.x) / len(bt.labels)
	for i, j := range idx {
		bt.labels[i] = ds.Example(j, bt.x[i*per:(i+1)*per])
	}
}
