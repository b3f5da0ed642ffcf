package tokenizer

import "fmt"

// An Encoding is the result of encoding one text or one pair of texts, with
// the fields of the tokenizers library's Encoding (offsets and word ids
// left out).
type Encoding struct {
	IDs               []int32  // token ids
	TypeIDs           []int32  // segment ids: 0 for the first text, 1 for the second (as the post-processor says)
	Tokens            []string // the tokens, as in the vocabulary
	AttentionMask     []int32  // 1 for real tokens, 0 for padding
	SpecialTokensMask []int32  // 1 for tokens added by the post-processor and for padding
}

// Len is the number of tokens.
func (e *Encoding) Len() int { return len(e.IDs) }

func (e *Encoding) appendToken(id, typeID int32, tok string, special int32) {
	e.IDs = append(e.IDs, id)
	e.TypeIDs = append(e.TypeIDs, typeID)
	e.Tokens = append(e.Tokens, tok)
	e.AttentionMask = append(e.AttentionMask, 1)
	e.SpecialTokensMask = append(e.SpecialTokensMask, special)
}

func (e *Encoding) appendEncoding(o *Encoding) {
	e.IDs = append(e.IDs, o.IDs...)
	e.TypeIDs = append(e.TypeIDs, o.TypeIDs...)
	e.Tokens = append(e.Tokens, o.Tokens...)
	e.AttentionMask = append(e.AttentionMask, o.AttentionMask...)
	e.SpecialTokensMask = append(e.SpecialTokensMask, o.SpecialTokensMask...)
}

func (e *Encoding) setTypeIDs(t int32) {
	for i := range e.TypeIDs {
		e.TypeIDs[i] = t
	}
}

// keep narrows the encoding to tokens [lo, hi).
func (e *Encoding) keep(lo, hi int) {
	e.IDs = e.IDs[lo:hi]
	e.TypeIDs = e.TypeIDs[lo:hi]
	e.Tokens = e.Tokens[lo:hi]
	e.AttentionMask = e.AttentionMask[lo:hi]
	e.SpecialTokensMask = e.SpecialTokensMask[lo:hi]
}

// Direction says which end truncation and padding act on.
type Direction string

// The directions, as spelled in tokenizer.json.
const (
	Right Direction = "Right"
	Left  Direction = "Left"
)

// TruncationStrategy says which text of a pair loses tokens.
type TruncationStrategy string

// The strategies, as spelled in tokenizer.json.
const (
	LongestFirst TruncationStrategy = "LongestFirst"
	OnlyFirst    TruncationStrategy = "OnlyFirst"
	OnlySecond   TruncationStrategy = "OnlySecond"
)

// Truncation holds tokenizer.json's "truncation" settings. MaxLength counts
// the special tokens the post-processor adds. Overflowing tokens are
// dropped (Stride is accepted but no overflowing encodings are produced).
type Truncation struct {
	Direction Direction          `json:"direction"`
	MaxLength int                `json:"max_length"`
	Strategy  TruncationStrategy `json:"strategy"`
	Stride    int                `json:"stride"`
}

// PaddingStrategy is "BatchLongest" or a fixed length.
type PaddingStrategy struct {
	BatchLongest bool
	Fixed        int
}

// Padding holds tokenizer.json's "padding" settings.
type Padding struct {
	Strategy        PaddingStrategy
	Direction       Direction
	PadToMultipleOf int // 0: none
	PadID           int32
	PadTypeID       int32
	PadToken        string
}

// truncateTo keeps n tokens from the end the direction says to keep.
func (e *Encoding) truncateTo(n int, dir Direction) {
	if n >= e.Len() {
		return
	}
	if dir == Left {
		e.keep(e.Len()-n, e.Len())
	} else {
		e.keep(0, n)
	}
}

// truncatePair applies the tokenizers library's truncate_encodings with
// maxLen already reduced by the special tokens to come.
func truncatePair(a, b *Encoding, maxLen int, t *Truncation) error {
	if maxLen <= 0 {
		a.keep(0, 0)
		if b != nil {
			b.keep(0, 0)
		}
		return nil
	}
	total := a.Len()
	if b != nil {
		total += b.Len()
	}
	if total <= maxLen {
		return nil
	}
	if t.Stride >= maxLen {
		return fmt.Errorf("truncation: stride %d must be smaller than max_length %d minus the special tokens", t.Stride, maxLen)
	}
	toRemove := total - maxLen
	switch t.Strategy {
	case LongestFirst, "":
		if b == nil {
			a.truncateTo(maxLen, t.Direction)
			return nil
		}
		n1, n2 := a.Len(), b.Len()
		swap := n1 > n2
		if swap {
			n1, n2 = n2, n1
		}
		if n1 > maxLen {
			n2 = n1
		} else if maxLen-n1 > n1 {
			n2 = maxLen - n1
		} else {
			n2 = n1
		}
		if n1+n2 > maxLen {
			n1 = maxLen / 2
			n2 = n1 + maxLen%2
		}
		if swap {
			n1, n2 = n2, n1
		}
		a.truncateTo(n1, t.Direction)
		b.truncateTo(n2, t.Direction)
	case OnlyFirst, OnlySecond:
		target := a
		if t.Strategy == OnlySecond {
			target = b
		}
		if target == nil || target.Len() <= toRemove {
			which := "first"
			if t.Strategy == OnlySecond {
				which = "second"
			}
			return fmt.Errorf("truncation: the %s sequence is not long enough to remove %d tokens (strategy %s)", which, toRemove, t.Strategy)
		}
		target.truncateTo(target.Len()-toRemove, t.Direction)
	default:
		return fmt.Errorf("truncation: unknown strategy %q", t.Strategy)
	}
	return nil
}

// padTo pads e to n tokens.
func (e *Encoding) padTo(n int, p *Padding) {
	k := n - e.Len()
	if k <= 0 {
		return
	}
	grow := func(s []int32, v int32) []int32 {
		out := make([]int32, 0, n)
		if p.Direction == Left {
			for i := 0; i < k; i++ {
				out = append(out, v)
			}
			return append(out, s...)
		}
		out = append(out, s...)
		for i := 0; i < k; i++ {
			out = append(out, v)
		}
		return out
	}
	toks := make([]string, 0, n)
	if p.Direction == Left {
		for i := 0; i < k; i++ {
			toks = append(toks, p.PadToken)
		}
		toks = append(toks, e.Tokens...)
	} else {
		toks = append(toks, e.Tokens...)
		for i := 0; i < k; i++ {
			toks = append(toks, p.PadToken)
		}
	}
	e.IDs = grow(e.IDs, p.PadID)
	e.TypeIDs = grow(e.TypeIDs, p.PadTypeID)
	e.AttentionMask = grow(e.AttentionMask, 0)
	e.SpecialTokensMask = grow(e.SpecialTokensMask, 1)
	e.Tokens = toks
}

// padEncodings is the tokenizers library's pad_encodings.
func padEncodings(encs []*Encoding, p *Padding) {
	if len(encs) == 0 {
		return
	}
	n := p.Strategy.Fixed
	if p.Strategy.BatchLongest {
		n = 0
		for _, e := range encs {
			if e.Len() > n {
				n = e.Len()
			}
		}
	}
	if m := p.PadToMultipleOf; m > 0 && n%m != 0 {
		n += m - n%m
	}
	for _, e := range encs {
		e.padTo(n, p)
	}
}
