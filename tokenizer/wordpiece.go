package tokenizer

import (
	"fmt"
	"unicode/utf8"
)

// wordPieceModel is HF's WordPiece: greedy longest-match-first over the
// word, later pieces carrying the continuing-subword prefix ("##"); a word
// with an unmatched rest, or longer than maxChars runes, becomes [UNK].
type wordPieceModel struct {
	voc      *vocabulary
	unk      string
	prefix   string
	maxChars int

	cache wordCache
}

func (m *wordPieceModel) vocab() *vocabulary { return m.voc }

func (m *wordPieceModel) unkID() (int32, error) {
	id, ok := m.voc.ids[m.unk]
	if !ok {
		return 0, fmt.Errorf("WordPiece: the unk token %q is not in the vocabulary", m.unk)
	}
	return id, nil
}

func (m *wordPieceModel) tokenize(dst []int32, word string) ([]int32, error) {
	if ids, ok := m.cache.get(word); ok {
		return append(dst, ids...), nil
	}
	start0 := len(dst)
	if utf8.RuneCountInString(word) > m.maxChars {
		id, err := m.unkID()
		if err != nil {
			return dst, err
		}
		return append(dst, id), nil
	}
	var buf []byte
	for start := 0; start < len(word); {
		end := len(word)
		found := false
		for start < end {
			buf = buf[:0]
			if start > 0 {
				buf = append(buf, m.prefix...)
			}
			buf = append(buf, word[start:end]...)
			if id, ok := m.voc.ids[string(buf)]; ok {
				dst = append(dst, id)
				found = true
				break
			}
			_, n := utf8.DecodeLastRuneInString(word[start:end])
			end -= n
		}
		if !found {
			id, err := m.unkID()
			if err != nil {
				return dst, err
			}
			return append(dst[:start0], id), nil
		}
		start = end
	}
	m.cache.put(word, dst[start0:])
	return dst, nil
}
