package tokenizer

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// A normalizer rewrites text before pre-tokenization (HF "normalizer").
type normalizer interface {
	normalize(s string) string
}

// bertNormalizer is HF's BertNormalizer: clean_text, handle_chinese_chars,
// strip_accents (defaulting to lowercase), lowercase, in that order.
type bertNormalizer struct {
	cleanText, chineseChars, stripAccents, lowercase bool
}

func (n *bertNormalizer) normalize(s string) string {
	if n.cleanText {
		s = bertCleanText(s)
	}
	if n.chineseChars {
		s = padChineseChars(s)
	}
	if n.stripAccents {
		s = stripAccents(s)
	}
	if n.lowercase {
		s = lowercase(s)
	}
	return s
}

// isBertWhitespace: \t \n \r and Unicode White_Space.
func isBertWhitespace(r rune) bool { return unicode.IsSpace(r) }

// isBertControl: Unicode "Other" (Cc, Cf, Cn, Co, Cs) except \t \n \r.
func isBertControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) {
		return true
	}
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z) // Cn: unassigned
}

func bertCleanText(s string) string {
	clean := true
	for _, r := range s {
		if r == 0 || r == 0xFFFD || r >= 0x80 || r < 0x20 || r == 0x7F {
			if r == 0 || r == 0xFFFD || isBertControl(r) || (r != ' ' && isBertWhitespace(r)) {
				clean = false
				break
			}
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == 0 || r == 0xFFFD || isBertControl(r):
		case isBertWhitespace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isChineseChar is the CJK block test of the tokenizers library (its
// ranges, including 0x2B920 where BERT's Python code has 0x2B820).
func isChineseChar(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

func padChineseChars(s string) string {
	has := false
	for _, r := range s {
		if isChineseChar(r) {
			has = true
			break
		}
	}
	if !has {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for _, r := range s {
		if isChineseChar(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// stripAccents is NFD followed by removing nonspacing marks (Mn).
func stripAccents(s string) string {
	if isASCII(s) {
		return s
	}
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// lowercase maps each rune to its full lowercase mapping, as Rust's
// char::to_lowercase does (no context: final sigma stays σ); U+0130 is the
// one rune whose mapping is two runes.
func lowercase(s string) string {
	if isASCII(s) {
		hasUpper := false
		for i := 0; i < len(s); i++ {
			if s[i] >= 'A' && s[i] <= 'Z' {
				hasUpper = true
				break
			}
		}
		if !hasUpper {
			return s
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r == 0x130 {
			b.WriteString("i\u0307")
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

type lowercaseNormalizer struct{}

func (lowercaseNormalizer) normalize(s string) string { return lowercase(s) }

type stripAccentsNormalizer struct{}

func (stripAccentsNormalizer) normalize(s string) string {
	if isASCII(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

type unicodeNormalizer struct{ form norm.Form }

func (n unicodeNormalizer) normalize(s string) string { return n.form.String(s) }

// stripNormalizer removes White_Space from the left and/or right.
type stripNormalizer struct{ left, right bool }

func (n stripNormalizer) normalize(s string) string {
	if n.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if n.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}

// replaceNormalizer replaces every occurrence of a literal string.
type replaceNormalizer struct{ pattern, content string }

func (n replaceNormalizer) normalize(s string) string {
	return strings.ReplaceAll(s, n.pattern, n.content)
}

// prependNormalizer prepends a string to non-empty text.
type prependNormalizer struct{ prepend string }

func (n prependNormalizer) normalize(s string) string {
	if s == "" {
		return s
	}
	return n.prepend + s
}

type sequenceNormalizer []normalizer

func (q sequenceNormalizer) normalize(s string) string {
	for _, n := range q {
		s = n.normalize(s)
	}
	return s
}
