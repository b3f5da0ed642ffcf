package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"unsafe"

	"github.com/golora/golora/internal/sizecheck"
)

// idx magic numbers: two zero bytes, the element type (0x08 = unsigned
// byte) and the number of dimensions.
const (
	idxImagesMagic = 0x00000803 // 2051: N × rows × cols
	idxLabelsMagic = 0x00000801 // 2049: N
)

// maxGzipRatio bounds how much a gzip stream can expand: deflate's best case
// is about 1032:1, so a header that claims more than this many bytes per
// compressed byte is lying, and nothing is allocated for it. A header that
// lies within this ratio still cannot make the reader allocate more than
// the stream really holds (plus one chunk): see readPayload.
const maxGzipRatio = 1100

// readChunk is the size of the pieces readPayload reads a compressed
// payload in, before the stream has shown that it holds all of it.
const readChunk = 1 << 20

// ReadIDXImages reads an idx3-ubyte image file, raw or gzipped (detected by
// the gzip magic bytes, whatever the file name). The images share one
// backing array and have one channel.
func ReadIDXImages(path string) ([]Image, error) {
	dims, pix, err := readIDX(path, idxImagesMagic, 3)
	if err != nil {
		return nil, err
	}
	images, err := idxImages(dims, pix)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return images, nil
}

// idxImages slices the pixels of an idx3 file (dims N, rows, cols) into
// images.
func idxImages(dims []int, pix []uint8) ([]Image, error) {
	n, rows, cols := dims[0], dims[1], dims[2]
	if n > 0 && (rows == 0 || cols == 0) {
		return nil, fmt.Errorf("images of %d×%d pixels", rows, cols)
	}
	// The pixels are read; the image headers cost more than tiny images.
	if err := sizecheck.Memory(fmt.Sprintf("%s images of %d×%d pixels", sizecheck.Count(int64(n)), rows, cols),
		sizecheck.Mul(int64(n), int64(unsafe.Sizeof(Image{})))); err != nil {
		return nil, err
	}
	images := make([]Image, n)
	size := rows * cols
	for i := range images {
		images[i] = Image{Height: rows, Width: cols, Channels: 1, Pix: pix[i*size : (i+1)*size : (i+1)*size]}
	}
	return images, nil
}

// ReadIDXLabels reads an idx1-ubyte label file, raw or gzipped.
func ReadIDXLabels(path string) ([]uint8, error) {
	_, labels, err := readIDX(path, idxLabelsMagic, 1)
	return labels, err
}

// readIDX reads an idx file of unsigned bytes with ndims dimensions and
// checks its length against the header: no byte missing, none extra.
func readIDX(path string, magic uint32, ndims int) ([]int, []uint8, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	dims, data, err := decodeIDX(bufio.NewReader(f), st.Size(), magic, ndims)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return dims, data, nil
}

// decodeIDX parses an idx stream of fileSize bytes on disk.
func decodeIDX(br *bufio.Reader, fileSize int64, magic uint32, ndims int) ([]int, []uint8, error) {
	var r io.Reader = br
	maxPayload := fileSize
	compressed := false
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		r, compressed = zr, true
		maxPayload = fileSize * maxGzipRatio
	}
	hdr := make([]byte, 4+4*ndims)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, nil, fmt.Errorf("truncated header: %w", noEOF(err))
	}
	if got := binary.BigEndian.Uint32(hdr); got != magic {
		return nil, nil, fmt.Errorf("magic number %#08x, want %#08x (%s)", got, magic, kindOf(magic))
	}
	dims := make([]int, ndims)
	var payload uint64 = 1
	for i := range dims {
		d := binary.BigEndian.Uint32(hdr[4+4*i:])
		dims[i] = int(d)
		var hi uint64
		hi, payload = bits.Mul64(payload, uint64(d))
		if hi != 0 {
			payload = 1 << 63
		}
	}
	avail := maxPayload - int64(len(hdr))
	if payload > uint64(max(avail, 0)) {
		if compressed {
			return nil, nil, fmt.Errorf("header dimensions %v need %d bytes, more than a %d-byte gzip file can hold", dims, payload, fileSize)
		}
		return nil, nil, fmt.Errorf("truncated: header dimensions %v need %d bytes of data, the file has %d", dims, payload, max(avail, 0))
	}
	if err := sizecheck.Memory(fmt.Sprintf("header dimensions %v", dims), int64(payload)); err != nil {
		return nil, nil, err
	}
	data, got, err := readPayload(r, int64(payload), compressed)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, fmt.Errorf("truncated: header dimensions %v need %d bytes of data, the file has %d", dims, payload, got)
		}
		return nil, nil, err
	}
	var extra [1]byte
	if n, err := io.ReadFull(r, extra[:]); n > 0 {
		return nil, nil, fmt.Errorf("data continues past the %d bytes that header dimensions %v describe", payload, dims)
	} else if err != io.EOF {
		return nil, nil, noEOF(err)
	}
	return dims, data, nil
}

// readPayload reads exactly n bytes. A raw file was checked to hold them,
// so they are read into one buffer; a compressed stream may hold fewer
// than its header claims, so it is read in chunks of readChunk bytes and
// the bytes are joined into one buffer only once all n have arrived: a
// lying header costs what the stream really holds (plus one chunk), an
// honest one twice its payload. On a short stream it returns how many
// bytes there were and io.ErrUnexpectedEOF.
func readPayload(r io.Reader, n int64, compressed bool) ([]byte, int64, error) {
	if !compressed || n <= readChunk {
		data := make([]byte, n)
		k, err := io.ReadFull(r, data)
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return data, int64(k), err
	}
	var chunks [][]byte
	var got int64
	for got < n {
		c := make([]byte, min(readChunk, n-got))
		k, err := io.ReadFull(r, c)
		got += int64(k)
		chunks = append(chunks, c[:k])
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, got, io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, got, err
		}
	}
	data := make([]byte, 0, n)
	for _, c := range chunks {
		data = append(data, c...)
	}
	return data, n, nil
}

func kindOf(magic uint32) string {
	if magic == idxImagesMagic {
		return "idx3-ubyte images"
	}
	return "idx1-ubyte labels"
}

// noEOF turns a bare EOF into "unexpected EOF": a stream that ends inside a
// structure is truncated.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
