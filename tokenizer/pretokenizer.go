package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// A preTokenizer splits each piece of text into smaller pieces (HF
// "pre_tokenizer"). first tells whether the piece starts the input text.
type preTokenizer interface {
	preTokenize(dst []string, piece string, first bool) []string
}

// byteLevelPre is HF's ByteLevel pre-tokenizer: optional prefix space, the
// GPT-2 split, then every byte mapped to its printable rune.
type byteLevelPre struct {
	addPrefixSpace, useRegex bool
}

func (p *byteLevelPre) preTokenize(dst []string, s string, _ bool) []string {
	if p.addPrefixSpace && !strings.HasPrefix(s, " ") {
		s = " " + s
	}
	// One allocation for the whole piece; the words are slices of it.
	mapped := string(byteLevelEncode(make([]byte, 0, len(s)+len(s)/2), s))
	if !p.useRegex {
		return append(dst, mapped)
	}
	off := 0
	splitGPT2(s, func(w string) {
		n := 0
		for i := 0; i < len(w); i++ {
			n += byteLevelLen[w[i]]
		}
		dst = append(dst, mapped[off:off+n])
		off += n
	})
	return dst
}

// isBertPunct is ASCII punctuation or any Unicode P category.
func isBertPunct(r rune) bool {
	if r < 0x80 {
		return (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126)
	}
	return unicode.IsPunct(r)
}

// bertPre is BertPreTokenizer: split on White_Space (dropped), then isolate
// every punctuation rune.
type bertPre struct{}

func (bertPre) preTokenize(dst []string, s string, _ bool) []string {
	start := -1
	for i := 0; i < len(s); {
		r, n := decodeRune(s, i)
		switch {
		case unicode.IsSpace(r):
			if start >= 0 {
				dst = append(dst, s[start:i])
				start = -1
			}
		case isBertPunct(r):
			if start >= 0 {
				dst = append(dst, s[start:i])
				start = -1
			}
			dst = append(dst, s[i:i+n])
		default:
			if start < 0 {
				start = i
			}
		}
		i += n
	}
	if start >= 0 {
		dst = append(dst, s[start:])
	}
	return dst
}

// isWordChar is Oniguruma's \w for Unicode text: Alphabetic (letters,
// letter numbers, other alphabetic), marks, decimal digits, connector
// punctuation, and the Latin-1 digits ² ³ ¹ ¼ ½ ¾ of its ctype table.
func isWordChar(r rune) bool {
	if r < 0x80 {
		return r == '_' || (r >= '0' && r <= '9') || (r|0x20 >= 'a' && r|0x20 <= 'z')
	}
	switch r {
	case 0xB2, 0xB3, 0xB9, 0xBC, 0xBD, 0xBE:
		return true
	}
	return unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_Alphabetic, r) ||
		unicode.IsMark(r) || unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Pc, r)
}

// whitespacePre is HF's Whitespace pre-tokenizer: \w+|[^\w\s]+.
type whitespacePre struct{}

func (whitespacePre) preTokenize(dst []string, s string, _ bool) []string {
	for i := 0; i < len(s); {
		r, n := decodeRune(s, i)
		if unicode.IsSpace(r) {
			i += n
			continue
		}
		word := isWordChar(r)
		j := runAt(s, i, func(r rune) bool {
			if word {
				return isWordChar(r)
			}
			return !isWordChar(r) && !unicode.IsSpace(r)
		})
		dst = append(dst, s[i:j])
		i = j
	}
	return dst
}

// whitespaceSplitPre splits on White_Space.
type whitespaceSplitPre struct{}

func (whitespaceSplitPre) preTokenize(dst []string, s string, _ bool) []string {
	return append(dst, strings.FieldsFunc(s, unicode.IsSpace)...)
}

// metaspacePre is HF's Metaspace pre-tokenizer (SentencePiece style):
// spaces become the replacement rune, which is prepended as the scheme
// says, and optionally splits before each replacement rune.
type metaspacePre struct {
	replacement string
	prepend     string // "always", "first", "never"
	split       bool
}

func (p *metaspacePre) preTokenize(dst []string, s string, first bool) []string {
	s = strings.ReplaceAll(s, " ", p.replacement)
	if (p.prepend == "always" || (p.prepend == "first" && first)) && !strings.HasPrefix(s, p.replacement) {
		s = p.replacement + s
	}
	if !p.split {
		return append(dst, s)
	}
	start := 0
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], p.replacement) && i > start {
			dst = append(dst, s[start:i])
			start = i
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
	}
	if start < len(s) {
		dst = append(dst, s[start:])
	}
	return dst
}

// splitGPT2Pre is the Split pre-tokenizer with the GPT-2 pattern and
// behavior Isolated (matched by hand, see splitGPT2).
type splitGPT2Pre struct{}

func (splitGPT2Pre) preTokenize(dst []string, s string, _ bool) []string {
	splitGPT2(s, func(w string) { dst = append(dst, w) })
	return dst
}

type sequencePre []preTokenizer

func (q sequencePre) preTokenize(dst []string, s string, first bool) []string {
	cur := []string{s}
	for _, p := range q {
		var next []string
		for k, piece := range cur {
			next = p.preTokenize(next, piece, first && k == 0)
		}
		cur = next
	}
	return append(dst, cur...)
}
