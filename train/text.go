package train

import (
	"fmt"

	"github.com/golora/golora/data"
)

// Tokens is a Dataset of token sequences, collated as Hugging Face's
// collators do with padding "longest": each batch is padded on the right
// to its longest sequence (the attention mask then marks the padding),
// so a batch of equal lengths (blocks of a grouped corpus) carries no mask.
//
// For causal language modelling (Labels nil) the targets are the next
// tokens: target t of a sequence is its token t+1 (the shift transformers'
// causal LM models apply to labels before the loss), and data.IgnoreIndex
// at its last token and on padding. For sequence classification, Labels
// holds one class per sequence. The collation is data/text's PadBatch and
// ShiftLabels (tested against them) without allocating per batch.
type Tokens struct {
	Seqs   [][]int32
	Labels []int32 // nil: causal LM
	Pad    int32   // the id written at padded positions (masked out)
}

var (
	_ Dataset       = (*Tokens)(nil)
	_ TargetCounter = (*Tokens)(nil)
)

// CausalLM returns a causal-LM Dataset over seqs; each must hold at least
// two tokens (one scored target).
func CausalLM(seqs [][]int32, pad int32) (*Tokens, error) {
	for i, s := range seqs {
		if len(s) < 2 {
			return nil, fmt.Errorf("train: sequence %d has %d tokens; causal LM needs at least 2", i, len(s))
		}
	}
	return &Tokens{Seqs: seqs, Pad: pad}, nil
}

// SequenceClassification returns a Dataset of sequences with one class
// each (in [0, classes)); each needs at least one token.
func SequenceClassification(seqs [][]int32, labels []int32, classes int, pad int32) (*Tokens, error) {
	if len(seqs) != len(labels) {
		return nil, fmt.Errorf("train: %d sequences and %d labels", len(seqs), len(labels))
	}
	for i, s := range seqs {
		if len(s) == 0 {
			return nil, fmt.Errorf("train: sequence %d is empty", i)
		}
		if labels[i] < 0 || int(labels[i]) >= classes {
			return nil, fmt.Errorf("train: label %d of sequence %d is outside [0, %d)", labels[i], i, classes)
		}
	}
	return &Tokens{Seqs: seqs, Labels: labels, Pad: pad}, nil
}

// Len implements Dataset.
func (d *Tokens) Len() int { return len(d.Seqs) }

// MaxLen is the longest sequence.
func (d *Tokens) MaxLen() int {
	n := 0
	for _, s := range d.Seqs {
		n = max(n, len(s))
	}
	return n
}

// Fill implements Dataset.
func (d *Tokens) Fill(b *data.Batch, idx []int) {
	T, masked := 0, false
	for _, i := range idx {
		T = max(T, len(d.Seqs[i]))
	}
	for _, i := range idx {
		masked = masked || len(d.Seqs[i]) < T
	}
	n := len(idx)
	rows := n
	if d.Labels == nil {
		rows = n * T
	}
	ids, mask, targets := b.SetTokens(n, T, rows, masked)
	for r, i := range idx {
		s := d.Seqs[i]
		row := ids[r*T : (r+1)*T]
		copy(row, s)
		for j := len(s); j < T; j++ {
			row[j] = d.Pad
		}
		if masked {
			m := mask[r*T : (r+1)*T]
			for j := range m {
				m[j] = 0
				if j < len(s) {
					m[j] = 1
				}
			}
		}
		if d.Labels != nil {
			targets[r] = d.Labels[i]
			continue
		}
		tg := targets[r*T : (r+1)*T]
		for j := range tg {
			tg[j] = data.IgnoreIndex
			if j+1 < len(s) {
				tg[j] = s[j+1]
			}
		}
	}
}

// CountTargets implements TargetCounter: a sequence of n tokens has n−1
// scored targets in causal LM, one in classification.
func (d *Tokens) CountTargets(idx []int) int {
	if d.Labels != nil {
		return len(idx)
	}
	c := 0
	for _, i := range idx {
		c += max(len(d.Seqs[i])-1, 0)
	}
	return c
}
