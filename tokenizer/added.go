package tokenizer

import (
	"sort"
	"unicode"
	"unicode/utf8"
)

// AddedToken is one entry of tokenizer.json's "added_tokens".
type AddedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// addedMatcher finds added tokens in text, leftmost first and longest among
// those starting at the same place, as the tokenizers library's
// Aho-Corasick (MatchKind::LeftmostLongest) does.
type addedMatcher struct {
	byFirst [256][]addedPattern // by first byte, longest first
	n       int
}

type addedPattern struct {
	text string
	tok  *AddedToken
}

func newAddedMatcher(pats []addedPattern) *addedMatcher {
	m := &addedMatcher{}
	for _, p := range pats {
		if p.text == "" {
			continue
		}
		m.byFirst[p.text[0]] = append(m.byFirst[p.text[0]], p)
		m.n++
	}
	for _, l := range m.byFirst {
		sort.SliceStable(l, func(i, j int) bool { return len(l[i].text) > len(l[j].text) })
	}
	return m
}

// segment is a piece of text, or an added token found in it.
type segment struct {
	text string
	tok  *AddedToken // nil for plain text
}

// isWordRune is \w of Rust's regex crate, which the tokenizers library
// uses for single_word: Alphabetic, marks, decimal digits, connector
// punctuation and the two join controls.
func isWordRune(r rune) bool {
	if r < 0x80 {
		return r == '_' || (r >= '0' && r <= '9') || (r|0x20 >= 'a' && r|0x20 <= 'z')
	}
	return unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_Alphabetic, r) ||
		unicode.IsMark(r) || unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Pc, r) || r == 0x200C || r == 0x200D
}

// split cuts s into plain segments and added-token segments.
func (m *addedMatcher) split(dst []segment, s string) []segment {
	if m.n == 0 {
		return append(dst, segment{text: s})
	}
	startOff := 0
	for i := 0; i < len(s); {
		cands := m.byFirst[s[i]]
		var hit *addedPattern
		for k := range cands {
			if len(cands[k].text) <= len(s)-i && s[i:i+len(cands[k].text)] == cands[k].text {
				hit = &cands[k]
				break
			}
		}
		if hit == nil {
			i++
			continue
		}
		start, stop := i, i+len(hit.text)
		t := hit.tok
		if t.SingleWord {
			before, _ := utf8.DecodeLastRuneInString(s[:start])
			after, _ := utf8.DecodeRuneInString(s[stop:])
			if (start > 0 && isWordRune(before)) || (stop < len(s) && isWordRune(after)) {
				i = stop // Aho-Corasick moves past a discarded match
				continue
			}
		}
		if t.LStrip {
			for start > startOff {
				r, n := utf8.DecodeLastRuneInString(s[:start])
				if !unicode.IsSpace(r) {
					break
				}
				start -= n
			}
		}
		if t.RStrip {
			for stop < len(s) {
				r, n := utf8.DecodeRuneInString(s[stop:])
				if !unicode.IsSpace(r) {
					break
				}
				stop += n
			}
		}
		if startOff < start {
			dst = append(dst, segment{text: s[startOff:start]})
		}
		dst = append(dst, segment{text: s[start:stop], tok: t})
		startOff = stop
		i = stop
	}
	if startOff < len(s) {
		dst = append(dst, segment{text: s[startOff:]})
	}
	return dst
}
