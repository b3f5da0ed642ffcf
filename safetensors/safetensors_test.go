package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/golora/golora/tensor"
)

// build assembles a file from a header text and a zero buffer of bufLen
// bytes, with the header length field set to len(hdr).
func build(hdr string, bufLen int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(b, hdr...)
	return append(b, make([]byte, bufLen)...)
}

// lenOnly is a header length field followed by rest.
func lenOnly(n uint64, rest string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
}

// tensorA is a valid 8-byte F32 tensor entry.
const tensorA = `"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`

// parseErrorCases are malformed files, each with a piece of its error.
var parseErrorCases = []struct {
	name string
	data []byte
	want string
}{
	{"shorter than length field", []byte{1, 2, 3}, "too short"},
	{"header over 100 MB", lenOnly(100_000_001, "{}"), "larger than the limit"},
	{"header longer than file", lenOnly(64, "{}"), "larger than the 2 bytes that follow"},
	{"header length near 2^64", lenOnly(math.MaxUint64, "{}"), "larger than the limit"},
	{"invalid UTF-8", build("{\"\xff\":1}", 0), "not valid UTF-8"},
	{"not JSON", build(`{"a":`, 0), "not valid JSON"},
	{"empty header", build(``, 0), "not valid JSON"},
	{"array at top", build(`[1,2]`, 0), "header is an array, not a JSON object"},
	{"string at top", build(`"x"`, 0), "header is the string"},
	{"trailing value", build(`{}{}`, 0), "after its closing brace"},
	{"trailing garbage", build(`{} x`, 0), "not valid JSON"},
	{"duplicate tensor", build(`{`+tensorA+`,`+tensorA+`}`, 8), `key "a" twice`},
	{"metadata not object", build(`{"__metadata__":[]}`, 0), "__metadata__ is an array"},
	{"metadata value number", build(`{"__metadata__":{"epoch":3}}`, 0), `value of "epoch" is the number 3`},
	{"metadata duplicate key", build(`{"__metadata__":{"k":"1","k":"2"}}`, 0), `key "k" twice`},
	{"tensor not object", build(`{"a":5}`, 0), `tensor "a" is the number 5`},
	{"unknown dtype", build(`{"a":{"dtype":"F128","shape":[],"data_offsets":[0,16]}}`, 16), `tensor "a": unknown dtype "F128"`},
	{"dtype case", build(`{"a":{"dtype":"f32","shape":[],"data_offsets":[0,4]}}`, 4), `unknown dtype "f32"`},
	{"dtype not string", build(`{"a":{"dtype":4,"shape":[],"data_offsets":[0,4]}}`, 4), "dtype is the number 4"},
	{"missing dtype", build(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, 4), `tensor "a": missing dtype`},
	{"field name case", build(`{"a":{"DTYPE":"F32","shape":[1],"data_offsets":[0,4]}}`, 4), `tensor "a": missing dtype`},
	{"missing shape", build(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4), `tensor "a": missing shape`},
	{"missing offsets", build(`{"a":{"dtype":"F32","shape":[1]}}`, 4), `tensor "a": missing data_offsets`},
	{"duplicate field", build(`{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4), `tensor "a" has the key "dtype" twice`},
	{"negative dim", build(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), `tensor "a": shape[0] is negative (-1)`},
	{"fractional dim", build(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4), `shape[0] = 1.5 is not an integer`},
	{"exponent dim", build(`{"a":{"dtype":"F32","shape":[1e2],"data_offsets":[0,400]}}`, 400), `shape[0] = 1e2 is not an integer`},
	{"huge dim", build(`{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}`, 4), "too large"},
	{"dim not number", build(`{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}`, 8), `shape[0] is the string "2"`},
	{"shape not array", build(`{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, 8), `shape is the number 2, not an array`},
	{"three offsets", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, 8), "data_offsets has 3 numbers"},
	{"end before begin", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}`, 8), "end before they begin"},
	{"end past buffer", build(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, 8), "past the end of the 8-byte data buffer"},
	{"size mismatch", build(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), `tensor "a": F32 shape [3] needs 12 bytes but data_offsets [0, 8] hold 8`},
	{"overlap", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), `tensor "b": data_offsets [4, 12] overlap tensor "a"`},
	{"same range twice", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8), `overlap tensor "a"`},
	{"hole", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 12), `tensor "b": data_offsets [8, 12] leave a hole: buffer bytes [4, 8)`},
	{"hole at start", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), `leave a hole: buffer bytes [0, 4)`},
	{"bytes after last tensor", build(`{`+tensorA+`}`, 12), "data buffer bytes [8, 12) belong to no tensor"},
	{"buffer without tensors", build(`{}`, 3), "data buffer bytes [0, 3) belong to no tensor"},
	{"element count overflow", build(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, 0), `tensor "a": shape [4294967296 4294967296] overflows the element count`},
	{"byte count overflow", build(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}}`, 0), "overflows the byte count"},
	{"sub-byte remainder", build(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}`, 1), "not a whole number of bytes"},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range parseErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.data)
			if err == nil {
				t.Fatalf("parsed %v, want an error containing %q", f.Names(), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "safetensors: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	cases := []struct {
		name  string
		data  []byte
		names []string
	}{
		{"empty object", build(`{}`, 0), []string{}},
		{"padding spaces", build(`{}      `, 0), []string{}},
		{"null metadata", build(`{"__metadata__":null}`, 0), []string{}},
		{"unknown field skipped", build(`{"a":{"dtype":"U8","extra":{"x":[1]},"shape":[2],"data_offsets":[0,2]}}`, 2), []string{"a"}},
		{"offset order differs from key order", build(`{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 2), []string{"a", "b"}},
		{"empty tensors share an offset", build(`{"e1":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"e2":{"dtype":"I64","shape":[3,0],"data_offsets":[0,0]},"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 1), []string{"e1", "e2", "x"}},
		{"zero dim beside a huge one", build(`{"a":{"dtype":"F32","shape":[0,9223372036854775807],"data_offsets":[0,0]}}`, 0), []string{"a"}},
		{"sub-byte F4 pair", build(`{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}`, 1), []string{"a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Names(); !slices.Equal(got, tc.names) {
				t.Errorf("names %v, want %v", got, tc.names)
			}
		})
	}
}

// TestReferenceFile reads a file built byte by byte in Python
// (testdata/gen.py) as the reference writer lays it out, and checks that
// Encode reproduces it exactly.
func TestReferenceFile(t *testing.T) {
	path := filepath.Join("testdata", "reference.safetensors")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	wantMeta := map[string]string{"format": "pt", "note": "tab\there \"quoted\" ünïcode \x01"}
	if !reflect.DeepEqual(f.Metadata, wantMeta) {
		t.Errorf("metadata %q, want %q", f.Metadata, wantMeta)
	}
	if got, w := f.Names(), []string{"a.bias", "b.weight", "emb", "empty", "scalar"}; !slices.Equal(got, w) {
		t.Fatalf("names %v, want %v", got, w)
	}
	check := func(name string, dt tensor.DType, shape []int) *tensor.Tensor {
		t.Helper()
		x, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if x.DType() != dt || !tensor.SameShape(x.Shape(), shape) {
			t.Fatalf("%s is %v, want %v%v", name, x, dt, shape)
		}
		return x
	}
	weight := check("b.weight", tensor.F32, []int{2, 3})
	for i, v := range weight.F32() {
		if w := float32(i)*0.25 - 0.5; v != w {
			t.Errorf("b.weight[%d] = %v, want %v", i, v, w)
		}
	}
	if got := check("a.bias", tensor.F32, []int{3}).F32(); !slices.Equal(got, []float32{1.5, -2, 3.25}) {
		t.Errorf("a.bias = %v", got)
	}
	if got := check("scalar", tensor.F32, []int{}).F32(); !slices.Equal(got, []float32{7}) {
		t.Errorf("scalar = %v", got)
	}
	check("empty", tensor.F32, []int{0, 4})
	// torch rounded these float32 values to bfloat16; tensor's rounding must agree.
	emb := check("emb", tensor.BF16, []int{2, 2}).BF16()
	for i, v := range []float32{float32(1.0 / 3.0), -2.7, 1e-3, 65504} {
		if w := tensor.BF16FromF32(v); emb[i] != w {
			t.Errorf("emb[%d] = %#04x, torch wrote %#04x", i, w, emb[i])
		}
	}

	all := map[string]*tensor.Tensor{}
	for _, name := range f.Names() {
		all[name], _ = f.Tensor(name)
	}
	var buf bytes.Buffer
	if err := Encode(&buf, all, f.Metadata); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Encode differs from the reference layout:\n got %q\nwant %q", buf.Bytes(), want)
	}
}

func TestMixedDTypes(t *testing.T) {
	f, err := Load(filepath.Join("testdata", "mixed.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata != nil {
		t.Errorf("metadata %v, want nil", f.Metadata)
	}
	half, err := f.Tensor("half")
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, -0.5, 65504, 0x1p-24, float32(math.Copysign(0, -1)), float32(math.Inf(1))}
	if half.DType() != tensor.F32 || !tensor.SameShape(half.Shape(), []int{2, 3}) {
		t.Fatalf("half is %v", half)
	}
	for i, v := range half.F32() {
		if math.Float32bits(v) != math.Float32bits(want[i]) {
			t.Errorf("half[%d] = %v, want %v", i, v, want[i])
		}
	}
	if _, err := f.Tensor("ids"); err == nil || !strings.Contains(err.Error(), `"ids" has dtype I64`) {
		t.Errorf("Tensor(ids) error = %v, want a dtype error", err)
	}
	raw, info, err := f.Raw("ids")
	if err != nil {
		t.Fatal(err)
	}
	if info.DType != "I64" || !slices.Equal(info.Shape, []int{2}) || len(raw) != 16 {
		t.Fatalf("ids info %+v, %d bytes", info, len(raw))
	}
	if a, b := int64(binary.LittleEndian.Uint64(raw)), int64(binary.LittleEndian.Uint64(raw[8:])); a != 1 || b != -2 {
		t.Errorf("ids = [%d %d], want [1 -2]", a, b)
	}
	if raw, _, _ := f.Raw("pix"); !bytes.Equal(raw, []byte{0, 128, 255}) {
		t.Errorf("pix = %v", raw)
	}
	if raw, _, _ := f.Raw("mask"); !bytes.Equal(raw, []byte{1, 0}) {
		t.Errorf("mask = %v", raw)
	}
	w, err := f.Tensor("w")
	if err != nil || w.BF16()[0] != tensor.BF16FromF32(-1.5) {
		t.Errorf("w = %v, %v", w, err)
	}
	if _, err := f.Tensor("nope"); err == nil || !strings.Contains(err.Error(), "mixed.safetensors: no tensor \"nope\"") {
		t.Errorf("missing tensor error = %v", err)
	}
	if _, ok := f.Info("nope"); ok {
		t.Error("Info found a missing tensor")
	}
}

func TestRoundTrip(t *testing.T) {
	tensors := map[string]*tensor.Tensor{}
	seed := uint32(1)
	rnd := func() float32 { seed = seed*1664525 + 1013904223; return float32(int32(seed)) / (1 << 28) }
	for i, shape := range [][]int{{3, 5}, {7}, {}, {0, 3}, {2, 3, 4}, {1, 1, 1, 1}} {
		x := tensor.New(tensor.F32, shape...)
		for j := range x.F32() {
			x.F32()[j] = rnd()
		}
		tensors["layer."+string(rune('a'+i))+".weight"] = x
		if x.Len() > 0 { // tensor.To panics on empty tensors (BF16FromF32Slice)
			tensors["layer."+string(rune('a'+i))+".bf16"] = x.To(tensor.BF16)
		}
	}
	x := tensor.New(tensor.F32, 4)
	copy(x.F32(), []float32{float32(math.NaN()), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32})
	tensors["special"] = x
	meta := map[string]string{"format": "pt", "z": "last", "": "empty key"}

	path := filepath.Join(t.TempDir(), "adapter_model.safetensors")
	if err := Save(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Metadata, meta) {
		t.Errorf("metadata %v, want %v", f.Metadata, meta)
	}
	if len(f.Names()) != len(tensors) {
		t.Fatalf("%d tensors, want %d", len(f.Names()), len(tensors))
	}
	for name, want := range tensors {
		got, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if got.DType() != want.DType() || !tensor.SameShape(got.Shape(), want.Shape()) {
			t.Fatalf("%s: %v, want %v", name, got, want)
		}
		info, _ := f.Info(name)
		if info.DataOffsets[0]%int64(want.DType().Size()) != 0 {
			t.Errorf("%s starts at %d, not aligned to its element size", name, info.DataOffsets[0])
		}
		switch want.DType() {
		case tensor.F32:
			for i, v := range want.F32() {
				if math.Float32bits(got.F32()[i]) != math.Float32bits(v) {
					t.Fatalf("%s[%d] = %v, want %v", name, i, got.F32()[i], v)
				}
			}
		case tensor.BF16:
			if !slices.Equal(got.BF16(), want.BF16()) {
				t.Fatalf("%s differs", name)
			}
		}
	}
	// Save and Encode write the same bytes, and the header is 8-aligned.
	file, _ := os.ReadFile(path)
	var buf bytes.Buffer
	if err := Encode(&buf, tensors, meta); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, buf.Bytes()) {
		t.Error("Save and Encode disagree")
	}
	if n := binary.LittleEndian.Uint64(file); n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
}

func TestEncodeOrderAndNoMetadata(t *testing.T) {
	tensors := map[string]*tensor.Tensor{
		"b": tensor.New(tensor.BF16, 1),
		"a": tensor.New(tensor.BF16, 1),
		"z": tensor.New(tensor.F32, 1),
	}
	var buf bytes.Buffer
	if err := Encode(&buf, tensors, nil); err != nil {
		t.Fatal(err)
	}
	// F32 (larger alignment) before BF16, then by name.
	want := `{"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[6,8]}}`
	want += strings.Repeat(" ", (8-len(want)%8)%8)
	if got := string(buf.Bytes()[8 : len(buf.Bytes())-8]); got != want {
		t.Errorf("header\n%s\nwant\n%s", got, want)
	}
	// The reference's serialize of nothing: "{}" and six spaces.
	buf.Reset()
	if err := Encode(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	if want := []byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '}; !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("empty file %v, want %v", buf.Bytes(), want)
	}
}

func TestSaveErrors(t *testing.T) {
	ok := tensor.New(tensor.F32, 2)
	cases := []struct {
		name    string
		tensors map[string]*tensor.Tensor
		meta    map[string]string
		want    string
	}{
		{"nil tensor", map[string]*tensor.Tensor{"w": nil}, nil, `tensor "w" is nil`},
		{"reserved name", map[string]*tensor.Tensor{"__metadata__": ok}, nil, `"__metadata__" cannot be a tensor name`},
		{"bad UTF-8 name", map[string]*tensor.Tensor{"w\xff": ok}, nil, "not valid UTF-8"},
		{"bad UTF-8 metadata", map[string]*tensor.Tensor{"w": ok}, map[string]string{"k": "\xfe"}, "not valid UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.safetensors")
			os.WriteFile(path, []byte("old"), 0o644)
			err := Save(path, tc.tensors, tc.meta)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s and containing %q", err, path, tc.want)
			}
			if b, _ := os.ReadFile(path); string(b) != "old" {
				t.Errorf("file changed to %q", b)
			}
		})
	}
}

func TestAppendStringRoundTrips(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s/", "\x00\x01\x1f\x7f", "\b\f\n\r\t", "ünï €😀", "<html>&"} {
		hdr := `{"__metadata__":{"k":` + string(appendString(nil, s)) + `}}`
		f, err := Parse(build(hdr, 0))
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if f.Metadata["k"] != s {
			t.Errorf("%q came back as %q", s, f.Metadata["k"])
		}
	}
	if got := string(appendString(nil, "\x01<\x7f")); got != `"\u0001<`+"\x7f"+`"` {
		t.Errorf("escaping %s", got)
	}
}

func TestF16Exhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		sign, exp, mant := h>>15, (h>>10)&0x1f, float64(h&0x3ff)
		var want float64
		switch exp {
		case 0:
			want = math.Ldexp(mant, -24)
		case 0x1f:
			want = math.Inf(1)
			if mant != 0 {
				want = math.NaN()
			}
		default:
			want = math.Ldexp(1+mant/1024, exp-15)
		}
		if sign == 1 {
			want = -want
		}
		got := f32FromF16(uint16(h))
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("%#04x: %v, want NaN", h, got)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != (sign == 1) {
			t.Fatalf("%#04x: %v, want %v", h, got, want)
		}
	}
}

// TestLyingHeaderAllocatesLittle parses headers that claim terabytes of
// tensor data: they must fail without allocating in proportion.
func TestLyingHeaderAllocatesLittle(t *testing.T) {
	inputs := [][]byte{
		build(`{"a":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}}`, 16),
		build(`{"a":{"dtype":"U64","shape":[1048576,1048576],"data_offsets":[0,8796093022208]}}`, 0),
		binary.LittleEndian.AppendUint64(nil, 99_999_999),
	}
	for _, in := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := Parse(in); err == nil {
			t.Fatalf("%q parsed", in)
		}
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("%q: parse allocated %d bytes", in, d)
		}
	}
}
