package tokenizer

import (
	"unicode/utf8"
)

// byteToRune is GPT-2's bytes_to_unicode table: every byte maps to a
// printable rune so that a byte string can be stored as a text token.
// Printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100
// upwards in byte order.
var byteToRune [256]rune

// runeToByte is the inverse of byteToRune; absent runes map to -1.
var runeToByte = map[rune]int{}

// byteLevelLen is the UTF-8 length of byteToRune[b].
var byteLevelLen [256]int

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = rune(256 + n)
			n++
		}
		runeToByte[byteToRune[b]] = b
		byteLevelLen[b] = utf8.RuneLen(byteToRune[b])
	}
}

// byteLevelEncode appends the byte-level form of s (each byte as its
// mapped rune) to dst.
func byteLevelEncode(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = utf8.AppendRune(dst, byteToRune[s[i]])
	}
	return dst
}

// appendLossyUTF8 appends b to dst as valid UTF-8, replacing every maximal
// ill-formed subpart with U+FFFD, as Rust's String::from_utf8_lossy and the
// WHATWG decoder do (Go's own decoding would emit one U+FFFD per byte).
func appendLossyUTF8(dst []byte, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			dst = append(dst, b[i:i+size]...)
			i += size
			continue
		}
		// Invalid: skip the longest prefix that could start a valid sequence.
		dst = append(dst, "\uFFFD"...)
		i += maximalSubpart(b[i:])
	}
	return dst
}

// maximalSubpart returns the length (>= 1) of the longest prefix of b that
// is a truncated but otherwise valid UTF-8 sequence (Unicode 3.9, U+FFFD
// substitution of maximal subparts).
func maximalSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		x := b[n]
		if k == 0 {
			if x < lo || x > hi {
				return n
			}
		} else if x < 0x80 || x > 0xBF {
			return n
		}
		n++
	}
	return n
}
