package data

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func savePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func TestLoadImageFolder(t *testing.T) {
	root := t.TempDir()
	// cat: an RGB image, an RGBA one (alpha dropped, not composited) and a
	// paletted one in a nested folder; dog: a gray image. Class names sort
	// "cat" < "dog"; a stray text file and an empty-named extension are ignored.
	rgb := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for i := range rgb.Pix {
		rgb.Pix[i] = uint8(10 * i)
	}
	for i := 3; i < len(rgb.Pix); i += 4 {
		rgb.Pix[i] = 255
	}
	savePNG(t, filepath.Join(root, "cat", "b.PNG"), rgb)
	rgba := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	rgba.Pix = []uint8{200, 100, 50, 128}
	savePNG(t, filepath.Join(root, "cat", "a.png"), rgba)
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.RGBA{1, 2, 3, 255}, color.RGBA{4, 5, 6, 255}})
	pal.Pix = []uint8{1, 0}
	savePNG(t, filepath.Join(root, "cat", "sub", "c.png"), pal)
	gray := image.NewGray(image.Rect(0, 0, 2, 2))
	gray.Pix = []uint8{0, 64, 128, 255}
	savePNG(t, filepath.Join(root, "dog", "x.png"), gray)
	os.WriteFile(filepath.Join(root, "dog", "notes.txt"), []byte("hi"), 0o644)
	os.WriteFile(filepath.Join(root, "README"), []byte("not a class"), 0o644)

	d, err := LoadImageFolder(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Classes, []string{"cat", "dog"}) || !slices.Equal(d.Labels, []int{0, 0, 0, 1}) {
		t.Fatalf("classes %v labels %v", d.Classes, d.Labels)
	}
	want := []Image{
		{1, 1, 3, []uint8{200, 100, 50}},
		{2, 3, 3, []uint8{0, 10, 20, 40, 50, 60, 80, 90, 100, 120, 130, 140, 160, 170, 180, 200, 210, 220}},
		{1, 2, 3, []uint8{4, 5, 6, 1, 2, 3}},
		{2, 2, 1, []uint8{0, 64, 128, 255}},
	}
	for i, w := range want {
		g := d.Images[i]
		if g.Height != w.Height || g.Width != w.Width || g.Channels != w.Channels || !slices.Equal(g.Pix, w.Pix) {
			t.Errorf("image %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestLoadImageFolderJPEG(t *testing.T) {
	root := t.TempDir()
	img := image.NewGray(image.Rect(0, 0, 16, 8))
	for i := range img.Pix {
		img.Pix[i] = 100
	}
	p := filepath.Join(root, "only", "flat.jpeg")
	os.MkdirAll(filepath.Dir(p), 0o755)
	f, _ := os.Create(p)
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d, err := LoadImageFolder(root)
	if err != nil {
		t.Fatal(err)
	}
	g := d.Images[0]
	if g.Height != 8 || g.Width != 16 || g.Channels != 1 {
		t.Fatalf("jpeg image %dx%dx%d", g.Height, g.Width, g.Channels)
	}
	for _, v := range g.Pix {
		if v < 99 || v > 101 { // JPEG is lossy, but a flat image stays flat
			t.Fatalf("pixel %d, want about 100", v)
		}
	}
}

func TestLoadImageFolderErrors(t *testing.T) {
	root := t.TempDir()
	if _, err := LoadImageFolder(root); err == nil || !strings.Contains(err.Error(), "no class subdirectories") {
		t.Errorf("empty root: %v", err)
	}
	savePNG(t, filepath.Join(root, "a", "1.png"), image.NewGray(image.Rect(0, 0, 1, 1)))
	os.MkdirAll(filepath.Join(root, "b"), 0o755)
	if _, err := LoadImageFolder(root); err == nil || !strings.Contains(err.Error(), "class folder(s) b") {
		t.Errorf("empty class: %v", err)
	}
	bad := filepath.Join(root, "b", "broken.png")
	os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nnot really"), 0o644)
	if _, err := LoadImageFolder(root); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt PNG error should name %s: %v", bad, err)
	}
	if _, err := LoadImageFolder(filepath.Join(root, "missing")); err == nil {
		t.Error("missing root: no error")
	}
}
