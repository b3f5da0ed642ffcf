package tokenizer

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// A decoder turns tokens back into text pieces (HF "decoder"); pieces are
// concatenated at the end, as the tokenizers library's decode_chain does.
type decoder interface {
	decodeChain(tokens []string) []string
}

// byteLevelDecoder maps each token's runes back to bytes (a token with a
// rune outside the byte map keeps its own UTF-8 bytes) and reads the bytes
// as lossy UTF-8.
type byteLevelDecoder struct{}

func (byteLevelDecoder) decodeChain(tokens []string) []string {
	var b []byte
	for _, t := range tokens {
		mark := len(b)
		ok := true
		for _, r := range t {
			c, found := runeToByte[r]
			if !found {
				ok = false
				break
			}
			b = append(b, byte(c))
		}
		if !ok {
			b = append(b[:mark], t...)
		}
	}
	return []string{string(appendLossyUTF8(nil, b))}
}

// wordPieceDecoder joins pieces, dropping the prefix of continuations and
// putting a space before other tokens; cleanup undoes BERT's spacing around
// punctuation and contractions, token by token.
type wordPieceDecoder struct {
	prefix  string
	cleanup bool
}

func (d wordPieceDecoder) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		if i != 0 {
			if strings.HasPrefix(t, d.prefix) {
				t = strings.Replace(t, d.prefix, "", 1)
			} else {
				t = " " + t
			}
		}
		if d.cleanup {
			t = CleanUpTokenization(t)
		}
		out[i] = t
	}
	return out
}

// CleanUpTokenization is transformers' clean_up_tokenization: it removes
// the spaces the WordPiece decoder leaves before punctuation and English
// contractions (" ." -> ".", " n't" -> "n't", " do not" -> " don't", ...).
func CleanUpTokenization(s string) string {
	// The replacements are applied one after the other in the reference;
	// do the same so that overlapping patterns behave identically.
	for _, r := range [][2]string{
		{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
		{" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"},
		{" 've", "'ve"}, {" 're", "'re"},
	} {
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	return s
}

// bpeDecoder replaces the end-of-word suffix by a space (nothing on the
// last token).
type bpeDecoder struct{ suffix string }

func (d bpeDecoder) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		rep := " "
		if i == len(tokens)-1 {
			rep = ""
		}
		out[i] = strings.ReplaceAll(t, d.suffix, rep)
	}
	return out
}

// metaspaceDecoder turns the replacement rune back into spaces and drops
// the leading one of the first token when a prefix was prepended.
type metaspaceDecoder struct {
	replacement string
	prepend     string
}

func (d metaspaceDecoder) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		t = strings.ReplaceAll(t, d.replacement, " ")
		if i == 0 && d.prepend != "never" {
			t = strings.TrimPrefix(t, " ")
		}
		out[i] = t
	}
	return out
}

type replaceDecoder struct{ pattern, content string }

func (d replaceDecoder) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		out[i] = strings.ReplaceAll(t, d.pattern, d.content)
	}
	return out
}

// byteFallbackDecoder turns runs of <0xXX> tokens into the text of their
// bytes (U+FFFD per invalid run, as the tokenizers library does).
type byteFallbackDecoder struct{}

func (byteFallbackDecoder) decodeChain(tokens []string) []string {
	var out []string
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if s := string(pending); utf8.ValidString(s) {
			out = append(out, s)
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range tokens {
		if len(t) == 6 && strings.HasPrefix(t, "<0x") && t[5] == '>' {
			if v, err := strconv.ParseUint(t[3:5], 16, 8); err == nil {
				pending = append(pending, byte(v))
				continue
			}
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

// fuseDecoder joins all tokens into one.
type fuseDecoder struct{}

func (fuseDecoder) decodeChain(tokens []string) []string {
	return []string{strings.Join(tokens, "")}
}

// stripDecoder removes up to start leading and stop trailing copies of
// content from each token.
type stripDecoder struct {
	content     string
	start, stop int
}

func (d stripDecoder) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		for k := 0; k < d.start && strings.HasPrefix(t, d.content); k++ {
			t = t[len(d.content):]
		}
		for k := 0; k < d.stop && strings.HasSuffix(t, d.content); k++ {
			t = t[:len(t)-len(d.content)]
		}
		out[i] = t
	}
	return out
}

type sequenceDecoder []decoder

func (q sequenceDecoder) decodeChain(tokens []string) []string {
	for _, d := range q {
		tokens = d.decodeChain(tokens)
	}
	return tokens
}
