package safetensors

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"slices"
	"unicode/utf8"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/tensor"
)

// MaxHeaderSize is the largest JSON header accepted, in bytes: the limit of
// the reference implementation.
const MaxHeaderSize = 100_000_000

// TensorInfo describes one stored tensor.
type TensorInfo struct {
	DType       string   // safetensors spelling: "F32", "BF16", "F16", "I64", ...
	Shape       []int    // row-major; [] is a scalar
	DataOffsets [2]int64 // [begin, end) in bytes, relative to the byte buffer
}

// Len is the number of elements (1 for a scalar).
func (ti TensorInfo) Len() int {
	n := 1
	for _, d := range ti.Shape {
		n *= d
	}
	return n
}

// File is a parsed safetensors file. Its tensors are decoded on demand from
// the bytes it was parsed from, which it keeps (and which the caller must
// not modify).
type File struct {
	// Metadata is the "__metadata__" map, nil if the file has none.
	Metadata map[string]string

	source string // file path for errors, "" when parsed from memory
	infos  map[string]TensorInfo
	buf    []byte // the byte buffer that data_offsets index
}

// Load reads and parses the file at path. The whole file is read into
// memory; File only depends on a []byte, so a memory map can replace the
// read later without changing callers.
func Load(path string) (*File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if err := sizecheck.Memory("safetensors: reading "+path, st.Size()); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	f.source = path
	return f, nil
}

// Parse parses a whole safetensors file held in data. The File refers to
// data without copying it.
func Parse(data []byte) (*File, error) {
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

func parse(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("file of %d bytes is too short to hold the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("header length %d is larger than the limit of %d bytes", n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d is larger than the %d bytes that follow it", n, len(data)-8)
	}
	hdr := data[8 : 8+n]
	if !utf8.Valid(hdr) {
		return nil, errors.New("header is not valid UTF-8")
	}
	meta, entries, err := parseHeader(hdr)
	if err != nil {
		return nil, err
	}
	buf := data[8+n:]
	if err := checkLayout(entries, int64(len(buf))); err != nil {
		return nil, err
	}
	f := &File{Metadata: meta, infos: make(map[string]TensorInfo, len(entries)), buf: buf}
	for _, e := range entries {
		f.infos[e.name] = e.info
	}
	return f, nil
}

// checkLayout checks each tensor's byte length against its dtype and shape,
// and that the tensors, sorted by offset, tile the buffer without overlap or
// hole, as the reference implementation requires.
func checkLayout(entries []entry, bufLen int64) error {
	for _, e := range entries {
		begin, end := e.info.DataOffsets[0], e.info.DataOffsets[1]
		if end < begin {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] end before they begin", e.name, begin, end)
		}
		if end > bufLen {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] reach past the end of the %d-byte data buffer", e.name, begin, end, bufLen)
		}
		size, err := byteLen(e.info)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", e.name, err)
		}
		if size != end-begin {
			return fmt.Errorf("tensor %q: %s shape %v needs %d bytes but data_offsets [%d, %d] hold %d",
				e.name, e.info.DType, e.info.Shape, size, begin, end, end-begin)
		}
	}
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.info.DataOffsets[0], b.info.DataOffsets[0]),
			cmp.Compare(a.info.DataOffsets[1], b.info.DataOffsets[1]),
			cmp.Compare(a.name, b.name))
	})
	var pos int64
	prev := ""
	for _, e := range sorted {
		begin, end := e.info.DataOffsets[0], e.info.DataOffsets[1]
		if begin < pos {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q, which ends at %d", e.name, begin, end, prev, pos)
		}
		if begin > pos {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] leave a hole: buffer bytes [%d, %d) belong to no tensor", e.name, begin, end, pos, begin)
		}
		pos, prev = end, e.name
	}
	if pos != bufLen {
		return fmt.Errorf("data buffer bytes [%d, %d) belong to no tensor (the tensors must cover the buffer exactly)", pos, bufLen)
	}
	return nil
}

// byteLen is the storage size of a tensor, with every product checked for
// overflow in the order the reference implementation multiplies.
func byteLen(info TensorInfo) (int64, error) {
	var n uint64 = 1
	for _, d := range info.Shape {
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 {
			return 0, fmt.Errorf("shape %v overflows the element count", info.Shape)
		}
		n = lo
	}
	hi, nbits := bits.Mul64(n, uint64(dtypes[info.DType].bits))
	if hi != 0 || nbits/8 > math.MaxInt64 {
		return 0, fmt.Errorf("%s shape %v overflows the byte count", info.DType, info.Shape)
	}
	if nbits%8 != 0 {
		return 0, fmt.Errorf("%s shape %v is not a whole number of bytes", info.DType, info.Shape)
	}
	return int64(nbits / 8), nil
}

// Names returns the tensor names in sorted order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.infos))
	for name := range f.infos {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Info returns the dtype, shape and offsets of a tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	info, ok := f.infos[name]
	info.Shape = slices.Clone(info.Shape)
	return info, ok
}

// Raw returns a tensor's bytes (little-endian, row-major) without decoding,
// for dtypes Tensor does not convert. The slice aliases the file's memory:
// read it, do not modify it.
func (f *File) Raw(name string) ([]byte, TensorInfo, error) {
	info, ok := f.Info(name)
	if !ok {
		return nil, info, f.notFound(name)
	}
	b, e := info.DataOffsets[0], info.DataOffsets[1]
	return f.buf[b:e:e], info, nil
}

// Tensor decodes a tensor into a new tensor.Tensor: F32 into an F32 tensor,
// BF16 into a BF16 tensor, F16 into an F32 tensor (exactly: every half
// value is a float32 value). Other dtypes are an error; read them with Raw.
func (f *File) Tensor(name string) (*tensor.Tensor, error) {
	raw, info, err := f.Raw(name)
	if err != nil {
		return nil, err
	}
	n := info.Len()
	switch info.DType {
	case "F32":
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return tensor.FromF32(out, info.Shape...), nil
	case "BF16":
		out := make([]uint16, n)
		for i := range out {
			out[i] = binary.LittleEndian.Uint16(raw[2*i:])
		}
		return tensor.FromBF16(out, info.Shape...), nil
	case "F16":
		out := make([]float32, n)
		for i := range out {
			out[i] = f32FromF16(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return tensor.FromF32(out, info.Shape...), nil
	}
	return nil, fmt.Errorf("safetensors: %stensor %q has dtype %s; only F32, BF16 and F16 convert to a tensor (read others with Raw)",
		f.where(), name, info.DType)
}

func (f *File) notFound(name string) error {
	return fmt.Errorf("safetensors: %sno tensor %q", f.where(), name)
}

// where prefixes errors with the file's path, when there is one.
func (f *File) where() string {
	if f.source == "" {
		return ""
	}
	return f.source + ": "
}
