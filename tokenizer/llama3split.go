package tokenizer

import "unicode/utf8"

// The LLaMA-3 (tiktoken cl100k-style) pre-tokenization pattern, as LLaMA-3's
// tokenizer.json gives it to a Split pre-tokenizer:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// splitLlama3 matches it by hand, alternative by alternative, as a
// backtracking engine does (see splitGPT2 for the classes).
const llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

func isCRLF(r rune) bool { return r == '\r' || r == '\n' }

func splitLlama3(s string, emit func(piece string)) {
	for i := 0; i < len(s); {
		n := llama3MatchAt(s, i)
		emit(s[i : i+n])
		i += n
	}
}

// foldIs reports whether r is c under Unicode simple case folding, for the
// ASCII letters of the contractions (s also matches U+017F, long s).
func foldIs(r rune, c byte) bool {
	if r == rune(c) || r == rune(c-'a'+'A') {
		return true
	}
	return c == 's' && r == 0x17F
}

// contractionFoldAt matches (?i:'s|'t|'re|'ve|'m|'ll|'d) at i.
func contractionFoldAt(s string, i int) int {
	j := i + 1
	if j >= len(s) {
		return 0
	}
	r1, n1 := decodeRune(s, j)
	for _, c := range []byte{'s', 't', 'm', 'd'} {
		if foldIs(r1, c) {
			return 1 + n1
		}
	}
	if j+n1 >= len(s) {
		return 0
	}
	r2, n2 := decodeRune(s, j+n1)
	switch {
	case foldIs(r1, 'r') && foldIs(r2, 'e'), foldIs(r1, 'v') && foldIs(r2, 'e'), foldIs(r1, 'l') && foldIs(r2, 'l'):
		return 1 + n1 + n2
	}
	return 0
}

func llama3MatchAt(s string, i int) int {
	r, rn := decodeRune(s, i)
	if r == '\'' {
		if n := contractionFoldAt(s, i); n > 0 {
			return n
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if !isCRLF(r) && !isL(r) && !isN(r) {
		if end := runAt(s, i+rn, isL); end > i+rn {
			return end - i
		}
	}
	if end := runAt(s, i, isL); end > i {
		return end - i
	}
	// \p{N}{1,3}
	if isN(r) {
		end := i
		for k := 0; k < 3 && end < len(s); k++ {
			c, n := decodeRune(s, end)
			if !isN(c) {
				break
			}
			end += n
		}
		return end - i
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	start := i
	if r == ' ' {
		start = i + 1
	}
	if start < len(s) {
		if end := runAt(s, start, isOtherGPT2); end > start {
			return runAt(s, end, isCRLF) - i
		}
	}
	if !isS(r) {
		return rn // unreachable: a non-space is L, N or other, all matched above
	}
	// \s*[\r\n]+: the run of spaces up to its last \r or \n
	end := runAt(s, i, isS)
	last := -1
	for k := i; k < end; {
		c, n := decodeRune(s, k)
		if isCRLF(c) {
			last = k + n
		}
		k += n
	}
	if last > 0 {
		return last - i
	}
	// \s+(?!\S) then \s+
	if end == len(s) {
		return end - i
	}
	_, lastLen := utf8.DecodeLastRuneInString(s[i:end])
	if end-lastLen > i {
		return end - lastLen - i
	}
	return end - i
}

// splitLlama3Pre is the Split pre-tokenizer with the LLaMA-3 pattern and
// behavior Isolated.
type splitLlama3Pre struct{}

func (splitLlama3Pre) preTokenize(dst []string, s string, _ bool) []string {
	splitLlama3(s, func(w string) { dst = append(dst, w) })
	return dst
}
