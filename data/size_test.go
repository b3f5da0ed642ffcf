package data

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/internal/badinput"
	"github.com/golora/golora/internal/sizecheck"
)

// TestImageHeaders: images whose headers claim huge sizes are refused
// from the header, before any pixel is allocated.
func TestImageHeaders(t *testing.T) {
	t.Setenv(sizecheck.MemEnv, "1GiB")
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"png 60000", badinput.PNG(60000, 60000, 10), "60000x60000 = 3,600,000,000 pixels"},
		{"png 300000", badinput.PNG(300000, 300000, 10), "more than the 89,478,485 pixels"},
		{"png wide", badinput.PNG(300000, 1, 10), "not enough pixel data"}, // under the caps: decoded, 300 kB
		{"png 9000 tiny file", badinput.PNG(9000, 9000, 10), "need at least"},
		{"png 2^31", badinput.PNG(1<<31-1, 1<<31-1, 10), "png"},
		{"jpeg 65000", badinput.JPEG(65000, 65000), "65000x65000"},
		{"jpeg 65535x1400", badinput.JPEG(65535, 1400), "91,749,000 pixels"},
		{"not an image", []byte("GIF89a nonsense"), "not a PNG or JPEG"},
	} {
		p := filepath.Join(dir, tc.name+".png")
		os.WriteFile(p, tc.data, 0o644)
		var err error
		if n := badinput.Allocated(func() { _, err = ReadImage(p) }); n > 1<<20 {
			t.Errorf("%s: allocated %d bytes", tc.name, n)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming %s with %q", tc.name, err, p, tc.want)
		}
	}
	// Within the pixel cap, a decode that would not fit in memory.
	t.Setenv(sizecheck.MemEnv, "64MiB")
	p := filepath.Join(dir, "big.png")
	os.WriteFile(p, badinput.PNG(8000, 8000, 16<<10), 0o644)
	if _, err := ReadImage(p); err == nil || !strings.Contains(err.Error(), "memory available") {
		t.Errorf("8000x8000 in 64 MiB: %v", err)
	}
}

// TestReadImageAgrees: a real image decodes as before the checks.
func TestReadImageAgrees(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 5, 3))
	for i := range img.Pix {
		img.Pix[i] = byte(17 * i)
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	p := filepath.Join(t.TempDir(), "x.png")
	os.WriteFile(p, b.Bytes(), 0o644)
	got, err := ReadImage(p)
	if err != nil || got.Width != 5 || got.Height != 3 || got.Channels != 1 || !bytes.Equal(got.Pix, img.Pix) {
		t.Errorf("ReadImage = %+v, %v", got, err)
	}
}

// TestIDXLyingCount: an idx header that claims more images than its file
// holds is refused; a gzipped one is read without allocating what the
// header claims.
func TestIDXLyingCount(t *testing.T) {
	t.Setenv(sizecheck.MemEnv, "1GiB")
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		data  []byte
		want  string
		bound uint64
	}{
		// 100 KiB of incompressible data claiming 60000 images: within
		// deflate's ratio, so only reading shows the lie.
		{"gzip within ratio", badinput.Gzip(badinput.IDXImages(60000, 28, 28, 100<<10)), "need 47040000 bytes of data, the file has 102400", 8 << 20},
		{"gzip 1e9", badinput.Gzip(badinput.IDXImages(1e9, 28, 28, 1000)), "more than a", 1 << 20},
		{"raw 1e9", badinput.IDXImages(1e9, 28, 28, 1000), "the file has 1000", 1 << 20},
		{"gzip max", badinput.Gzip(badinput.IDXImages(1<<32-1, 1<<32-1, 1<<32-1, 0)), "header dimensions", 1 << 20},
		{"raw 2 GiB claimed", badinput.IDXImages(1, 1<<20, 1<<11, 0), "the file has 0", 1 << 20},
	} {
		p := filepath.Join(dir, tc.name)
		os.WriteFile(p, tc.data, 0o644)
		var err error
		if n := badinput.Allocated(func() { _, err = ReadIDXImages(p) }); n > tc.bound {
			t.Errorf("%s: allocated %d bytes, bound %d", tc.name, n, tc.bound)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming %s with %q", tc.name, err, p, tc.want)
		}
	}
	// An honest header whose data do not fit in memory.
	t.Setenv(sizecheck.MemEnv, "1MiB")
	p := filepath.Join(dir, "honest")
	os.WriteFile(p, badinput.Gzip(badinput.IDXImages(4, 512, 1024, 4*512*1024)), 0o644)
	if _, err := ReadIDXImages(p); err == nil || !strings.Contains(err.Error(), "memory available") {
		t.Errorf("2 MiB of images in 1 MiB: %v", err)
	}
}
