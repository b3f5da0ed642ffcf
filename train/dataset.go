package train

import (
	"github.com/golora/golora/data"
)

// Dataset is a set of examples the Trainer collates into batches: images
// with a class, token sequences with a class, or token sequences to model.
type Dataset interface {
	// Len is the number of examples.
	Len() int
	// Fill collates examples idx into b (reusing its buffers: see
	// data.Batch's SetImages and SetTokens), targets included.
	Fill(b *data.Batch, idx []int)
}

// TargetCounter is implemented by datasets whose examples do not carry
// exactly one scored target each (language modelling, with padding): the
// Trainer asks it for the scored targets of a step's micro-batches first,
// so that the loss of a step is the mean over all of them, as Hugging
// Face's Trainer does with num_items_in_batch.
type TargetCounter interface {
	CountTargets(idx []int) int
}

// EpochSetter is implemented by datasets whose examples depend on the
// epoch (augmentation): the Trainer calls SetEpoch before the first batch
// of every epoch, including the epoch a resumed run starts in.
type EpochSetter interface {
	SetEpoch(epoch int)
}

// countTargets is the number of scored targets of examples idx.
func countTargets(ds Dataset, idx []int) int {
	if c, ok := ds.(TargetCounter); ok {
		return c.CountTargets(idx)
	}
	return len(idx)
}

// epochOrder is the order in which epoch visits the n examples: a
// permutation drawn from (seed, epoch) alone (data.Order, the order of a
// shuffling data.Loader), so a resumed run visits the same examples in the
// same order as an uninterrupted one.
func epochOrder(seed uint64, epoch, n int) []int {
	return data.Order(n, seed, epoch)
}

// Images is a Dataset of fixed-size examples with one class each, given
// one at a time: Example writes example i (Shape's values) into dst and
// returns its class.
type Images interface {
	Len() int
	Shape() []int // [C, H, W]
	Example(i int, dst []float32) int32
}

// ImageDataset collates an Images source into batches.
func ImageDataset(src Images) Dataset { return imageDataset{src} }

type imageDataset struct{ Images }

func (d imageDataset) Fill(b *data.Batch, idx []int) {
	s := d.Shape()
	per := s[0] * s[1] * s[2]
	pix, targets := b.SetImages(len(idx), s[0], s[1], s[2])
	for i, j := range idx {
		targets[i] = d.Example(j, pix[i*per:(i+1)*per])
	}
}

// SetEpoch passes the epoch on to a source that depends on it.
func (d imageDataset) SetEpoch(epoch int) {
	if es, ok := d.Images.(EpochSetter); ok {
		es.SetEpoch(epoch)
	}
}
