package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The GPT-2 pre-tokenization pattern, as the tokenizers library compiles it
// with Oniguruma:
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// Go's regexp has no lookahead, so splitGPT2 matches it by hand, trying the
// alternatives in order at each position exactly as a backtracking engine
// does. \s is Unicode White_Space (unicode.IsSpace); the optional leading
// space is U+0020 only.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

func isL(r rune) bool { return unicode.IsLetter(r) }
func isN(r rune) bool { return unicode.IsNumber(r) }
func isS(r rune) bool { return unicode.IsSpace(r) }

// isOtherGPT2 is [^\s\p{L}\p{N}].
func isOtherGPT2(r rune) bool { return !isS(r) && !isL(r) && !isN(r) }

// runAt returns the end of the maximal run of runes satisfying f that
// starts at i (i itself if s[i] does not satisfy f).
func runAt(s string, i int, f func(rune) bool) int {
	for i < len(s) {
		r, n := decodeRune(s, i)
		if !f(r) {
			break
		}
		i += n
	}
	return i
}

func decodeRune(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// contractionAt matches 's|'t|'re|'ve|'m|'ll|'d at i (s[i] == '\”).
func contractionAt(s string, i int) int {
	if i+1 >= len(s) {
		return 0
	}
	switch s[i+1] {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if i+2 < len(s) && s[i+2] == 'e' {
			return 3
		}
	case 'l':
		if i+2 < len(s) && s[i+2] == 'l' {
			return 3
		}
	}
	return 0
}

// splitGPT2 calls emit for each match of the GPT-2 pattern in s, in order.
// The matches cover s completely.
func splitGPT2(s string, emit func(piece string)) {
	for i := 0; i < len(s); {
		n := gpt2MatchAt(s, i)
		emit(s[i : i+n])
		i += n
	}
}

// gpt2MatchAt returns the length of the pattern's match at i (always > 0).
func gpt2MatchAt(s string, i int) int {
	r, rn := decodeRune(s, i)
	if r == '\'' {
		if n := contractionAt(s, i); n > 0 {
			return n
		}
	}
	// ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
	start := i
	if r == ' ' && i+1 < len(s) {
		start = i + 1
	}
	for _, class := range [3]func(rune) bool{isL, isN, isOtherGPT2} {
		// Without the optional space the class would have to match s[i],
		// which is a space when start != i, so one attempt suffices.
		if end := runAt(s, start, class); end > start {
			return end - i
		}
	}
	// `\s+(?!\S)` then `\s+`
	if isS(r) {
		end := runAt(s, i, isS)
		if end == len(s) {
			return end - i
		}
		// Followed by a non-space: give back the last space if one remains.
		_, last := utf8.DecodeLastRuneInString(s[i:end])
		if end-last > i {
			return end - last - i
		}
		return end - i
	}
	return rn // unreachable: every rune is \s, L, N or other
}
