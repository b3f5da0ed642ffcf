package safetensors

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/golora/golora/tensor"
)

// FuzzParse checks that any input either fails cleanly or yields a File
// whose tensors lie inside the input and survive a write and a re-read.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"reference.safetensors", "mixed.safetensors"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, tc := range parseErrorCases {
		f.Add(tc.data)
	}
	f.Add(build(`{"__metadata__":{"format":"pt"},`+tensorA+`}`, 8))
	f.Add(build(`{"e":{"dtype":"BF16","shape":[0,2],"data_offsets":[0,0]},"s":{"dtype":"F16","shape":[],"data_offsets":[0,2]}}`, 2))

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		keep := map[string]*tensor.Tensor{}
		var total int
		for _, name := range file.Names() {
			raw, info, err := file.Raw(name)
			if err != nil {
				t.Fatalf("Raw(%q) of a listed tensor: %v", name, err)
			}
			total += len(raw)
			x, err := file.Tensor(name)
			switch info.DType {
			case "F32", "BF16", "F16":
				if err != nil {
					t.Fatalf("Tensor(%q): %v", name, err)
				}
				// Decoded storage is at most twice the stored bytes (F16 -> F32).
				if x.Bytes() > 2*int64(len(raw)) {
					t.Fatalf("%q decoded to %d bytes from %d", name, x.Bytes(), len(raw))
				}
				if info.DType != "F16" {
					keep[name] = x
				}
			default:
				if err == nil {
					t.Fatalf("Tensor(%q) converted dtype %s", name, info.DType)
				}
			}
		}
		if total > len(data) {
			t.Fatalf("tensors hold %d bytes, more than the %d-byte input", total, len(data))
		}
		var buf bytes.Buffer
		if err := Encode(&buf, keep, file.Metadata); err != nil {
			t.Fatalf("re-encoding a parsed file: %v", err)
		}
		again, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("re-parsing an encoded file: %v", err)
		}
		for name, x := range keep {
			y, err := again.Tensor(name)
			if err != nil || !sameBits(x, y) {
				t.Fatalf("%q changed in a write and re-read (%v)", name, err)
			}
		}
	})
}

// sameBits reports whether two tensors have the same dtype, shape and bits.
func sameBits(a, b *tensor.Tensor) bool {
	if a.DType() != b.DType() || !tensor.SameShape(a.Shape(), b.Shape()) {
		return false
	}
	if a.DType() == tensor.BF16 {
		return bytes.Equal(u16bytes(a.BF16()), u16bytes(b.BF16()))
	}
	for i, v := range a.F32() {
		if math.Float32bits(v) != math.Float32bits(b.F32()[i]) {
			return false
		}
	}
	return true
}

func u16bytes(s []uint16) []byte {
	out := make([]byte, 0, 2*len(s))
	for _, v := range s {
		out = append(out, byte(v), byte(v>>8))
	}
	return out
}
