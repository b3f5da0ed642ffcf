package data

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register the decoders image.Decode uses
	_ "image/png"
	"io"
	"os"

	"github.com/golora/golora/internal/sizecheck"
)

// MaxImagePixels is the largest image (width × height) ReadImage decodes:
// PIL's Image.MAX_IMAGE_PIXELS, above which PIL warns of a decompression
// bomb (it refuses at twice this). golora refuses at once: a decoded image
// takes up to 8 bytes per pixel before its conversion to 1 or 3.
const MaxImagePixels = 89_478_485

// decodeBytesPerPixel bounds what decoding costs per pixel: the decoder's
// image (at most 8 bytes, NRGBA64) and, for an interlaced PNG, its seven
// pass images (as much again), or, for a progressive JPEG, its
// coefficients (4 bytes per pixel and component, 3 components, beside an
// image of at most 4); plus golora's copy (at most 3).
const decodeBytesPerPixel = 16 + 3

// maxDeflateRatio is deflate's best compression, about 1032:1: a PNG's
// compressed pixel data cannot be smaller than its raw size over this.
const maxDeflateRatio = 1032

// ReadImage reads a PNG or JPEG file into a 1- or 3-channel Image (see
// DecodeImage). Errors name the path.
func ReadImage(path string) (Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return Image{}, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Image{}, fmt.Errorf("data: %w", err)
	}
	img, err := DecodeImage(f, st.Size())
	if err != nil {
		return Image{}, fmt.Errorf("data: decoding %s: %w", path, err)
	}
	return img, nil
}

// DecodeImage decodes a PNG or JPEG image of size bytes from r. Its header
// is read first (image.DecodeConfig) and the image refused, before any
// pixel is allocated, when it has more than MaxImagePixels, when a PNG
// claims more pixels than its bytes can hold, or when decoding it would
// not fit in the memory available. Gray images (PNG gray, JPEG gray) keep
// one channel; everything else is converted to RGB, dropping alpha as
// PIL's convert("RGB") does.
func DecodeImage(r io.ReadSeeker, size int64) (Image, error) {
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		return Image{}, fmt.Errorf("not a PNG or JPEG image: %w", err)
	}
	if err := checkImageSize(cfg, format, size); err != nil {
		return Image{}, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return Image{}, err
	}
	src, _, err := image.Decode(r)
	if err != nil {
		return Image{}, fmt.Errorf("not a PNG or JPEG image: %w", err)
	}
	if b := src.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return Image{}, fmt.Errorf("decoded %dx%d pixels, but the header says %dx%d", b.Dx(), b.Dy(), cfg.Width, cfg.Height)
	}
	return fromImage(src), nil
}

// checkImageSize checks an image header before decoding.
func checkImageSize(cfg image.Config, format string, size int64) error {
	w, h := int64(cfg.Width), int64(cfg.Height)
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%s header: %dx%d pixels", format, w, h)
	}
	pixels := sizecheck.Mul(w, h)
	if pixels > MaxImagePixels {
		return fmt.Errorf("%s header: %dx%d = %s pixels, more than the %s pixels golora decodes (PIL's MAX_IMAGE_PIXELS)",
			format, w, h, sizecheck.Count(pixels), sizecheck.Count(MaxImagePixels))
	}
	if format == "png" {
		// Each row is a filter byte and at least one bit per pixel.
		raw := sizecheck.Mul(h, 1+(w+7)/8)
		if need := raw / maxDeflateRatio; need > size {
			return fmt.Errorf("png header: %dx%d pixels need at least %s of compressed data, the file has %s",
				w, h, sizecheck.Bytes(need), sizecheck.Bytes(size))
		}
	}
	if need := sizecheck.Mul(pixels, decodeBytesPerPixel); need > 16<<20 { // small images need no look at memory
		return sizecheck.Memory(fmt.Sprintf("decoding a %dx%d %s", w, h, format), need)
	}
	return nil
}

// fromImage copies a decoded image into an Image.
func fromImage(src image.Image) Image {
	b := src.Bounds()
	h, w := b.Dy(), b.Dx()
	switch s := src.(type) {
	case *image.Gray:
		img := Image{Height: h, Width: w, Channels: 1, Pix: make([]uint8, h*w)}
		for y := range h {
			copy(img.Pix[y*w:(y+1)*w], s.Pix[y*s.Stride:])
		}
		return img
	case *image.Gray16:
		img := Image{Height: h, Width: w, Channels: 1, Pix: make([]uint8, h*w)}
		for y := range h {
			for x := range w {
				img.Pix[y*w+x] = uint8(s.Gray16At(b.Min.X+x, b.Min.Y+y).Y >> 8)
			}
		}
		return img
	}
	img := Image{Height: h, Width: w, Channels: 3, Pix: make([]uint8, h*w*3)}
	for y := range h {
		for x := range w {
			// Non-premultiplied colour, so alpha is dropped, not composited.
			c := color.NRGBAModel.Convert(src.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			i := 3 * (y*w + x)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2] = c.R, c.G, c.B
		}
	}
	return img
}
