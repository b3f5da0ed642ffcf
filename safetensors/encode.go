package safetensors

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/tensor"
)

// Save writes tensors and metadata to path in safetensors format. The file
// is replaced atomically: on any error an existing file at path is left as
// it was. A nil metadata map writes no "__metadata__" key; PEFT adapters
// and Hugging Face models carry {"format": "pt"}.
func Save(path string, tensors map[string]*tensor.Tensor, metadata map[string]string) error {
	l, err := newLayout(tensors, metadata)
	if err != nil {
		return fmt.Errorf("safetensors: saving %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, l.writeTo, 0o644); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// Encode writes tensors and metadata in safetensors format to w, exactly
// as Save writes them to a file.
func Encode(w io.Writer, tensors map[string]*tensor.Tensor, metadata map[string]string) error {
	l, err := newLayout(tensors, metadata)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err := l.writeTo(w); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// layout is a file ready to write: its padded header and tensors in order.
type layout struct {
	header  []byte
	tensors []*tensor.Tensor
}

type named struct {
	name string
	t    *tensor.Tensor
}

// newLayout orders the tensors as the reference writer does (decreasing
// dtype alignment, then name: large elements first keeps every tensor
// aligned to its element size) and builds the header.
func newLayout(tensors map[string]*tensor.Tensor, metadata map[string]string) (*layout, error) {
	list := make([]named, 0, len(tensors))
	for name, t := range tensors {
		if t == nil {
			return nil, fmt.Errorf("tensor %q is nil", name)
		}
		if name == "__metadata__" {
			return nil, errors.New(`"__metadata__" cannot be a tensor name`)
		}
		if !utf8.ValidString(name) {
			return nil, fmt.Errorf("tensor name %q is not valid UTF-8", name)
		}
		if dt := t.DType(); dt != tensor.F32 && dt != tensor.BF16 {
			return nil, fmt.Errorf("tensor %q: dtype %v cannot be saved (F32 and BF16 can)", name, dt)
		}
		list = append(list, named{name, t})
	}
	slices.SortFunc(list, func(a, b named) int {
		ra, rb := dtypes[a.t.DType().String()].rank, dtypes[b.t.DType().String()].rank
		return cmp.Or(cmp.Compare(rb, ra), cmp.Compare(a.name, b.name))
	})

	h := []byte{'{'}
	if metadata != nil {
		keys := make([]string, 0, len(metadata))
		for k, v := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, fmt.Errorf("metadata %q: %q is not valid UTF-8", k, v)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		h = append(h, `"__metadata__":{`...)
		for i, k := range keys {
			if i > 0 {
				h = append(h, ',')
			}
			h = appendString(h, k)
			h = append(h, ':')
			h = appendString(h, metadata[k])
		}
		h = append(h, '}')
	}
	var offset int64
	l := &layout{tensors: make([]*tensor.Tensor, len(list))}
	for i, e := range list {
		if i > 0 || metadata != nil {
			h = append(h, ',')
		}
		h = appendString(h, e.name)
		h = append(h, `:{"dtype":"`...)
		h = append(h, e.t.DType().String()...)
		h = append(h, `","shape":[`...)
		for j, d := range e.t.Shape() {
			if j > 0 {
				h = append(h, ',')
			}
			h = strconv.AppendInt(h, int64(d), 10)
		}
		end := offset + e.t.Bytes()
		h = append(h, `],"data_offsets":[`...)
		h = strconv.AppendInt(h, offset, 10)
		h = append(h, ',')
		h = strconv.AppendInt(h, end, 10)
		h = append(h, "]}"...)
		offset = end
		l.tensors[i] = e.t
	}
	h = append(h, '}')
	// Pad with spaces so the buffer, and so every tensor, starts 8-aligned.
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	if len(h) > MaxHeaderSize {
		return nil, fmt.Errorf("header of %d bytes is larger than the limit of %d", len(h), MaxHeaderSize)
	}
	l.header = h
	return l, nil
}

// writeTo writes the length, header and tensor bytes, converting to
// little-endian through a small reused chunk.
func (l *layout) writeTo(w io.Writer) error {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(l.header)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(l.header); err != nil {
		return err
	}
	chunk := make([]byte, 64<<10)
	for _, t := range l.tensors {
		switch t.DType() {
		case tensor.F32:
			src := t.F32()
			for len(src) > 0 {
				k := min(len(src), len(chunk)/4)
				for i, v := range src[:k] {
					binary.LittleEndian.PutUint32(chunk[4*i:], math.Float32bits(v))
				}
				if _, err := w.Write(chunk[:4*k]); err != nil {
					return err
				}
				src = src[k:]
			}
		case tensor.BF16:
			src := t.BF16()
			for len(src) > 0 {
				k := min(len(src), len(chunk)/2)
				for i, v := range src[:k] {
					binary.LittleEndian.PutUint16(chunk[2*i:], v)
				}
				if _, err := w.Write(chunk[:2*k]); err != nil {
					return err
				}
				src = src[k:]
			}
		}
	}
	return nil
}

// appendString appends s as a JSON string escaped as serde_json escapes it
// (the reference writer): quote, backslash and control characters only, with
// the short forms \b \f \n \r \t and lower-case \u00XX for the rest.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}
