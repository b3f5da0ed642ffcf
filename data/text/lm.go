package text

import (
	"fmt"

	"github.com/golora/golora/data"
)

// GroupTexts concatenates token sequences and cuts the result into blocks
// of blockSize tokens, dropping the remainder, as transformers' run_clm
// group_texts does. run_clm maps it over batches of 1,000 texts
// (datasets' default), so a remainder is dropped per batch: mapBatch
// reproduces that (1000 for run_clm's output, 0 to treat all sequences as
// one batch). The blocks share one backing array.
func GroupTexts(seqs [][]int32, blockSize, mapBatch int) ([][]int32, error) {
	if blockSize <= 0 {
		return nil, fmt.Errorf("text: block size %d must be positive", blockSize)
	}
	if mapBatch <= 0 {
		mapBatch = len(seqs)
	}
	var blocks [][]int32
	for lo := 0; lo < len(seqs); lo += mapBatch {
		hi := min(lo+mapBatch, len(seqs))
		total := 0
		for _, s := range seqs[lo:hi] {
			total += len(s)
		}
		total -= total % blockSize
		if total == 0 {
			continue
		}
		flat := make([]int32, 0, total)
		for _, s := range seqs[lo:hi] {
			if len(flat)+len(s) > total {
				s = s[:total-len(flat)]
			}
			flat = append(flat, s...)
			if len(flat) == total {
				break
			}
		}
		for i := 0; i < total; i += blockSize {
			blocks = append(blocks, flat[i:i+blockSize:i+blockSize])
		}
	}
	return blocks, nil
}

// PadOptions says how PadBatch sizes a batch.
type PadOptions struct {
	MaxLength       int  // > 0: sequences longer than this are truncated (their end dropped)
	PadToMultipleOf int  // > 0: the padded length is rounded up to a multiple of it
	Left            bool // pad on the left (for generation) instead of the right
}

// LMBatch is a padded batch of N sequences of T tokens, row-major.
type LMBatch struct {
	N, T          int
	InputIDs      []int32 // [N·T]
	AttentionMask []int32 // [N·T]: 1 a token, 0 padding
	Labels        []int32 // [N·T]: the input ids, and -100 (data.IgnoreIndex) on padding
}

// PadBatch pads sequences to the longest one (as DataCollatorForLanguage
// Modeling with mlm=False and padding "longest" does) and returns
// input_ids, attention_mask and labels. Labels are -100 where the attention
// mask is 0; HF's collator instead sets -100 wherever the id equals
// pad_token_id, which also hides real EOS tokens when pad == eos.
func PadBatch(seqs [][]int32, padID int32, o PadOptions) (LMBatch, error) {
	if len(seqs) == 0 {
		return LMBatch{}, fmt.Errorf("text: empty batch")
	}
	if o.MaxLength < 0 || o.PadToMultipleOf < 0 {
		return LMBatch{}, fmt.Errorf("text: negative max length %d or multiple %d", o.MaxLength, o.PadToMultipleOf)
	}
	t := 0
	for _, s := range seqs {
		n := len(s)
		if o.MaxLength > 0 && n > o.MaxLength {
			n = o.MaxLength
		}
		t = max(t, n)
	}
	if m := o.PadToMultipleOf; m > 0 && t%m != 0 {
		t += m - t%m
	}
	b := LMBatch{N: len(seqs), T: t,
		InputIDs: make([]int32, len(seqs)*t), AttentionMask: make([]int32, len(seqs)*t), Labels: make([]int32, len(seqs)*t)}
	for i, s := range seqs {
		if o.MaxLength > 0 && len(s) > o.MaxLength {
			s = s[:o.MaxLength]
		}
		off := i * t
		if o.Left {
			off += t - len(s)
		}
		row := i * t
		for j := row; j < row+t; j++ {
			b.InputIDs[j], b.Labels[j] = padID, data.IgnoreIndex
		}
		for j, id := range s {
			b.InputIDs[off+j] = id
			b.AttentionMask[off+j] = 1
			b.Labels[off+j] = id
		}
	}
	return b, nil
}

// ShiftLabels turns labels [n·t] into next-token targets: target (i, j) is
// label (i, j+1), and -100 at the last position of each row, which is the
// shift HF's causal LM models apply before the loss (and what data.Batch's
// Targets hold).
func ShiftLabels(labels []int32, n, t int) ([]int32, error) {
	if n < 0 || t <= 0 || len(labels) != n*t {
		return nil, fmt.Errorf("text: %d labels are not %d rows of %d", len(labels), n, t)
	}
	out := make([]int32, len(labels))
	for i := 0; i < n; i++ {
		row := labels[i*t : (i+1)*t]
		copy(out[i*t:], row[1:])
		out[i*t+t-1] = data.IgnoreIndex
	}
	return out, nil
}
