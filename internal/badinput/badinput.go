// Package badinput builds hostile inputs for tests and fuzz seeds: image
// and idx files whose headers claim sizes their bytes do not hold, the
// shapes that once made golora allocate before checking. It is used by
// tests only.
package badinput

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"runtime"
)

// PNG returns a PNG whose header (IHDR) claims width × height pixels of
// 8-bit gray, followed by a tiny, valid zlib stream of idat bytes of pixel
// data (0 for none) and IEND: a decoder that trusts the header allocates
// the whole image before finding the data short.
func PNG(width, height uint32, idat int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, width)
	ihdr = binary.BigEndian.AppendUint32(ihdr, height)
	ihdr = append(ihdr, 8, 0, 0, 0, 0) // depth 8, gray, deflate, filter 0, no interlace
	chunk(&b, "IHDR", ihdr)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(random(idat))
	zw.Close()
	chunk(&b, "IDAT", z.Bytes())
	chunk(&b, "IEND", nil)
	return b.Bytes()
}

func chunk(b *bytes.Buffer, kind string, data []byte) {
	binary.Write(b, binary.BigEndian, uint32(len(data)))
	b.WriteString(kind)
	b.Write(data)
	crc := crc32.NewIEEE()
	crc.Write([]byte(kind))
	crc.Write(data)
	binary.Write(b, binary.BigEndian, crc.Sum32())
}

// JPEG returns the start of a baseline gray JFIF whose frame header (SOF0)
// claims width × height pixels, then EOI: enough for image.DecodeConfig.
func JPEG(width, height uint16) []byte {
	b := []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	b = append(b, 0xff, 0xc0, 0, 11, 8)
	b = binary.BigEndian.AppendUint16(b, height)
	b = binary.BigEndian.AppendUint16(b, width)
	b = append(b, 1, 1, 0x11, 0)
	return append(b, 0xff, 0xd9)
}

// IDXImages returns an idx3-ubyte image file whose header claims count
// images of rows × cols but which holds only payload random bytes after it
// (random, so that gzip cannot shrink them).
func IDXImages(count, rows, cols uint32, payload int) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0x803)
	for _, d := range []uint32{count, rows, cols} {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, random(payload)...)
}

// random returns n reproducible random bytes.
func random(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// IDXLabels returns an idx1-ubyte label file whose header claims count
// labels but which holds payload of them, all 0.
func IDXLabels(count uint32, payload int) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0x801)
	b = binary.BigEndian.AppendUint32(b, count)
	return append(b, make([]byte, payload)...)
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// Allocated returns the bytes fn allocates on the heap (runtime.MemStats'
// TotalAlloc before and after): what a test bounds to show that a refused
// input allocated nothing in proportion to the size it claimed.
func Allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}
