package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"testing"

	"github.com/golora/golora/internal/badinput"
	"github.com/golora/golora/internal/sizecheck"
)

// FuzzIdx feeds idx files, raw or gzipped, to the idx reader as images and
// as labels. Any input is refused with an error or yields exactly the
// bytes its header describes, and the reader never allocates much more
// than the (decompressed) input really holds, whatever its header claims.
func FuzzIdx(f *testing.F) {
	f.Setenv(sizecheck.MemEnv, "8MiB") // small, so that every execution is quick
	good := idxBytes(idxImagesMagic, []uint32{2, 2, 3}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	for _, b := range [][]byte{
		good, gz(good),
		idxBytes(idxLabelsMagic, []uint32{3}, []byte{1, 2, 3}),
		gz(idxBytes(idxLabelsMagic, []uint32{3}, []byte{1, 2, 3})),
		badinput.IDXImages(1e9, 28, 28, 100),
		badinput.Gzip(badinput.IDXImages(60000, 28, 28, 2000)),
		badinput.Gzip(badinput.IDXImages(1<<32-1, 1<<32-1, 1<<32-1, 0)),
		badinput.Gzip(badinput.IDXLabels(1e9, 100)),
		gz(idxBytes(idxImagesMagic, []uint32{4096, 16, 16}, make([]byte, 4096*16*16))), // 1 MiB of zeros in 1 KiB
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// What the input really holds: its bytes, or what its gzip stream
		// decompresses to (counted, not kept).
		holds := int64(len(data))
		if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
			n, _ := io.Copy(io.Discard, io.LimitReader(zr, 1<<30))
			holds = max(holds, n)
		}
		bound := uint64(2*holds) + 4<<20
		for _, kind := range []struct {
			magic uint32
			ndims int
		}{{idxImagesMagic, 3}, {idxLabelsMagic, 1}} {
			var dims []int
			var payload []uint8
			var err error
			var images []Image
			alloc := badinput.Allocated(func() {
				dims, payload, err = decodeIDX(bufio.NewReader(bytes.NewReader(data)), int64(len(data)), kind.magic, kind.ndims)
				if err == nil && kind.ndims == 3 {
					images, err = idxImages(dims, payload)
				}
			})
			if alloc > bound+uint64(len(images))*64 {
				t.Fatalf("reading %d bytes (holding %d) allocated %d bytes", len(data), holds, alloc)
			}
			if err != nil {
				continue
			}
			want := int64(1)
			for _, d := range dims {
				want *= int64(d)
			}
			if int64(len(payload)) != want || want > holds {
				t.Fatalf("header %v, %d bytes read from an input holding %d", dims, len(payload), holds)
			}
			for _, img := range images {
				if len(img.Pix) != img.Height*img.Width || img.Height != dims[1] || img.Width != dims[2] {
					t.Fatalf("image %+v from header %v", img, dims)
				}
			}
		}
	})
}

// FuzzImage feeds image files to DecodeImage. Any input is refused with an
// error or yields an image of at most MaxImagePixels whose pixels match
// its size, and decoding never allocates more than the header's pixels
// times decodeBytesPerPixel (what the memory check assumes).
func FuzzImage(f *testing.F) {
	f.Setenv(sizecheck.MemEnv, "4MiB") // small, so that every execution is quick
	gray := image.NewGray(image.Rect(0, 0, 7, 5))
	rgba := image.NewNRGBA64(image.Rect(0, 0, 3, 4))
	for i := range gray.Pix {
		gray.Pix[i] = byte(31 * i)
	}
	for i := range rgba.Pix {
		rgba.Pix[i] = byte(7 * i)
	}
	pal := image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.Black, color.White})
	for _, img := range []image.Image{gray, rgba, pal} {
		var b bytes.Buffer
		png.Encode(&b, img)
		f.Add(b.Bytes())
		b.Reset()
		jpeg.Encode(&b, img, &jpeg.Options{Quality: 50})
		f.Add(b.Bytes())
	}
	for _, b := range [][]byte{
		badinput.PNG(60000, 60000, 64), badinput.PNG(300000, 300000, 64), badinput.PNG(9000, 9000, 64),
		badinput.PNG(64, 64, 64*65), badinput.JPEG(65000, 65000), badinput.JPEG(64, 64),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		bound := uint64(4<<20 + 32*len(data))
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
			if px := sizecheck.Mul(int64(cfg.Width), int64(cfg.Height)); px <= MaxImagePixels {
				bound += uint64(px * decodeBytesPerPixel)
			}
		}
		var img Image
		var err error
		if alloc := badinput.Allocated(func() { img, err = DecodeImage(bytes.NewReader(data), int64(len(data))) }); alloc > bound {
			t.Fatalf("decoding %d bytes allocated %d (bound %d)", len(data), alloc, bound)
		}
		if err != nil {
			return
		}
		if img.Height*img.Width > MaxImagePixels || (img.Channels != 1 && img.Channels != 3) || len(img.Pix) != img.Height*img.Width*img.Channels {
			t.Fatalf("decoded %dx%dx%d with %d bytes", img.Height, img.Width, img.Channels, len(img.Pix))
		}
	})
}
