package data

import (
	"fmt"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// IgnoreIndex marks a target that is not scored, as torch's
// CrossEntropyLoss(ignore_index=-100) and Hugging Face's labels do.
const IgnoreIndex = -100

// Spec says what a model reads and predicts, so that the trainer, the
// planner and the data pipeline can make batches for any model family:
// images (Channels, Height, Width) or token sequences (SeqLen, Vocab), and
// logits of Classes values for each example, or for each token when
// PerToken (causal language modelling).
type Spec struct {
	Channels, Height, Width int // image models: pixel_values [C, H, W]
	SeqLen                  int // text models: tokens per example (at most)
	Vocab                   int // text models: token ids in [0, Vocab)
	Classes                 int // logits per row
	PerToken                bool
}

// Text reports whether the model reads token ids.
func (s Spec) Text() bool { return s.SeqLen > 0 }

// Rows is the number of logits rows (and targets) of a batch of n examples.
func (s Spec) Rows(n int) int {
	if s.PerToken {
		return n * s.SeqLen
	}
	return n
}

// Bytes is the size of a batch of n examples at full length: f32 pixels or
// int32 ids and attention mask, and int32 targets; what Batch allocates.
func (s Spec) Bytes(n int) int64 {
	b := 4 * int64(s.Rows(n))
	if s.Text() {
		b += 2 * 4 * int64(n) * int64(s.SeqLen)
	} else {
		b += 4 * int64(n) * int64(s.Channels*s.Height*s.Width)
	}
	return b
}

// Batch is one collated batch of model inputs and training targets: pixel
// values for image models, token ids and an attention mask for text
// models. Its buffers are reused from batch to batch (they only grow) and
// are counted as memory.Data.
type Batch struct {
	N      int            // examples
	Pixels *tensor.Tensor // [N, C, H, W], image models
	T      int            // tokens per example, text models
	IDs    []int32        // [N·T] token ids
	Mask   []int32        // [N·T] attention mask: 1 a token, 0 padding; nil when nothing is padded
	// TokenTypes are BERT's token_type_ids [N·T] (segment A 0, B 1); nil
	// means all 0. SetTokens clears them; SetTokenTypes sizes them.
	TokenTypes []int32
	// Targets are what the logits rows are scored against: one class per
	// example for classification, one per token for causal language
	// modelling. There, Targets[t] is the id of token t+1 (collators shift
	// Hugging Face's labels, as its models do before the loss), and
	// IgnoreIndex where nothing is scored (padding, the last position).
	Targets []int32

	// backing stores, which only grow
	pix             []float32
	ids, mask, tgts []int32
	types           []int32
}

// SetImages sizes the batch for n images of shape [c, h, w], reusing the
// buffers when they are large enough, and returns the pixels (contents
// unspecified) and the targets to fill.
func (b *Batch) SetImages(n, c, h, w int) ([]float32, []int32) {
	b.N, b.T, b.IDs, b.Mask = n, 0, nil, nil
	b.pix = growData(b.pix, n*c*h*w)
	b.Pixels = tensor.FromF32(b.pix, n, c, h, w)
	b.tgts = growDataInt32(b.tgts, n)
	b.Targets = b.tgts
	return b.pix, b.Targets
}

// SetTokens sizes the batch for n sequences of t tokens with rows targets
// (n, or n·t per token), reusing the buffers, and returns the ids, the
// attention mask (when masked) and the targets to fill.
func (b *Batch) SetTokens(n, t, rows int, masked bool) (ids, mask, targets []int32) {
	b.N, b.T, b.Pixels = n, t, nil
	b.ids = growDataInt32(b.ids, n*t)
	b.IDs, b.Mask, b.TokenTypes = b.ids, nil, nil
	if masked {
		b.mask = growDataInt32(b.mask, n*t)
		b.Mask = b.mask
	}
	b.tgts = growDataInt32(b.tgts, rows)
	b.Targets = b.tgts
	return b.IDs, b.Mask, b.Targets
}

// SetTokenTypes gives the batch set up by SetTokens token_type_ids
// (contents unspecified) and returns them to fill.
func (b *Batch) SetTokenTypes() []int32 {
	b.types = growDataInt32(b.types, b.N*b.T)
	b.TokenTypes = b.types
	return b.TokenTypes
}

// ValidTargets counts the targets that are scored (not IgnoreIndex).
func (b *Batch) ValidTargets() int {
	n := 0
	for _, t := range b.Targets {
		if t != IgnoreIndex {
			n++
		}
	}
	return n
}

// Check reports a batch that does not fit spec: wrong sizes, ids outside
// the vocabulary, targets outside the classes.
func (b *Batch) Check(s Spec) error {
	if b.N <= 0 {
		return fmt.Errorf("data: empty batch")
	}
	if s.Text() {
		if b.T <= 0 || b.T > s.SeqLen || len(b.IDs) != b.N*b.T {
			return fmt.Errorf("data: batch of %d sequences of %d tokens (%d ids) does not fit %d tokens at most", b.N, b.T, len(b.IDs), s.SeqLen)
		}
		if b.Mask != nil && len(b.Mask) != len(b.IDs) {
			return fmt.Errorf("data: attention mask has %d values for %d ids", len(b.Mask), len(b.IDs))
		}
		if b.TokenTypes != nil && len(b.TokenTypes) != len(b.IDs) {
			return fmt.Errorf("data: %d token type ids for %d ids", len(b.TokenTypes), len(b.IDs))
		}
		for i, id := range b.IDs {
			if id < 0 || int(id) >= s.Vocab {
				return fmt.Errorf("data: token %d of the batch is id %d, outside the vocabulary of %d", i, id, s.Vocab)
			}
		}
	} else if b.Pixels == nil || b.Pixels.Dim(0) != b.N {
		return fmt.Errorf("data: batch of %d images has no pixel values of that many", b.N)
	}
	rows := b.N
	if s.PerToken {
		rows = b.N * b.T
	}
	if len(b.Targets) != rows {
		return fmt.Errorf("data: batch has %d targets, want %d", len(b.Targets), rows)
	}
	for i, t := range b.Targets {
		if t != IgnoreIndex && (t < 0 || int(t) >= s.Classes) {
			return fmt.Errorf("data: target %d of the batch is %d, outside [0, %d)", i, t, s.Classes)
		}
	}
	return nil
}

// growData returns buf resliced to n values, reallocated (counted as
// memory.Data) when it is too small.
func growData(buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return memory.Alloc(memory.Data, n)
}

func growDataInt32(buf []int32, n int) []int32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return memory.AllocInt32(memory.Data, n)
}
