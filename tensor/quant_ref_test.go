package tensor_test

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// The reference values come from testdata/gen_quant.py: bitsandbytes' NF4
// (with and without double quantisation) and row-wise int8, re-implemented
// in torch 1.13, and torch's .half().

type quantRef struct {
	t *testing.T
	f *safetensors.File
}

func loadQuantRef(t *testing.T) quantRef {
	f, err := safetensors.Load("../testdata/quant/expected.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	return quantRef{t, f}
}

func (r quantRef) raw(name, dtype string) ([]byte, []int) {
	b, info, err := r.f.Raw(name)
	if err != nil {
		r.t.Fatal(err)
	}
	if info.DType != dtype {
		r.t.Fatalf("%s is %s, want %s", name, info.DType, dtype)
	}
	return b, info.Shape
}

func (r quantRef) f32(name string) ([]float32, []int) {
	b, shape := r.raw(name, "F32")
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, shape
}

func (r quantRef) u8(name string) []byte { b, _ := r.raw(name, "U8"); return b }

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad++; bad <= 3 {
				t.Errorf("%s[%d] = %v (%#08x), want %v (%#08x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(got))
	}
}

func TestQuantTablesMatchBitsandbytes(t *testing.T) {
	r := loadQuantRef(t)
	code, _ := r.f32("nf4_code")
	sameBits(t, "NF4Levels", tensor.NF4Levels[:], code)
	dyn, _ := r.f32("dynamic_map")
	sameBits(t, "DynamicMap", tensor.DynamicMap[:], dyn)
}

func TestNF4MatchesBitsandbytes(t *testing.T) {
	r := loadQuantRef(t)
	for _, name := range []string{"a", "b", "c"} {
		x, _ := r.f32("x." + name)
		for _, dq := range []bool{false, true} {
			pre := "nf4." + name
			if dq {
				pre = "nf4dq." + name
			} else if name == "c" {
				continue // the file holds c double-quantised only
			}
			t.Run(pre, func(t *testing.T) {
				got := tensor.QuantizeNF4(x, dq)
				packed := r.u8(pre + ".packed")
				if string(got.Packed) != string(packed) {
					n := 0
					for i := range packed {
						if got.Packed[i] != packed[i] {
							n++
						}
					}
					t.Errorf("packed codes: %d of %d bytes differ", n, len(packed))
				}
				if dq {
					if q := r.u8(pre + ".qabsmax"); string(got.QAbsmax) != string(q) {
						t.Errorf("qabsmax differs:\n got %v\nwant %v", got.QAbsmax, q)
					}
					a2, _ := r.f32(pre + ".absmax2")
					sameBits(t, "absmax2", got.Absmax2, a2)
					off, _ := r.f32(pre + ".offset")
					sameBits(t, "offset", []float32{got.Offset}, off)
				} else {
					am, _ := r.f32(pre + ".absmax")
					sameBits(t, "absmax", got.Absmax, am)
				}
				want, _ := r.f32(pre + ".deq")
				dst := make([]float32, len(x))
				got.Dequantize(dst, 0)
				sameBits(t, "dequantized", dst, want)
			})
		}
	}
}

// TestNF4DequantizeReferenceCodes dequantises bitsandbytes' own codes and
// scales (not golora's quantisation of the input): bit for bit.
func TestNF4DequantizeReferenceCodes(t *testing.T) {
	r := loadQuantRef(t)
	x, _ := r.f32("x.c")
	off, _ := r.f32("nf4dq.c.offset")
	a2, _ := r.f32("nf4dq.c.absmax2")
	d := &tensor.NF4Data{N: len(x), Packed: r.u8("nf4dq.c.packed"), QAbsmax: r.u8("nf4dq.c.qabsmax"), Absmax2: a2, Offset: off[0]}
	want, _ := r.f32("nf4dq.c.deq")
	dst := make([]float32, 1000)
	d.Dequantize(dst, 5000) // an offset inside a block
	sameBits(t, "dequantized", dst, want[5000:6000])
}

func TestInt8MatchesBitsandbytes(t *testing.T) {
	r := loadQuantRef(t)
	for _, name := range []string{"a", "b", "t"} { // t: rounding ties, a negative absmax
		x, shape := r.f32("x." + name)
		got := tensor.QuantizeInt8(x, shape[1])
		q, _ := r.raw("int8."+name+".q", "I8")
		for i := range q {
			if got.Q[i] != int8(q[i]) {
				t.Fatalf("%s: code %d = %d, want %d", name, i, got.Q[i], int8(q[i]))
			}
		}
		// golora keeps absmax/127 as the scale (one multiply per value
		// while widening); bitsandbytes keeps absmax and multiplies by
		// f32(1/127) afterwards. The two agree to an ulp or so.
		am, _ := r.f32("int8." + name + ".absmax")
		for i, s := range got.Scale {
			if w := am[i] / 127; s != w {
				t.Errorf("%s: scale %d = %v, want absmax/127 = %v", name, i, s, w)
			}
		}
		want, _ := r.f32("int8." + name + ".deq")
		dst := make([]float32, len(x))
		got.Dequantize(dst, 0)
		worst := 0.0
		for i := range dst {
			rel := math.Abs(float64(dst[i]-want[i])) / float64(am[i/shape[1]])
			worst = max(worst, rel)
		}
		if worst > 2e-7 { // 2 ulps of the row's absmax
			t.Errorf("%s: dequantized values differ from bitsandbytes' by %.3g of the row absmax", name, worst)
		}
	}
}

func TestF16MatchesTorch(t *testing.T) {
	r := loadQuantRef(t)
	x, _ := r.f32("x.f16")
	b, _ := r.raw("f16.f16", "F16")
	for i, f := range x {
		want := binary.LittleEndian.Uint16(b[2*i:])
		if got := tensor.F16FromF32(f); got != want {
			t.Errorf("F16FromF32(%v) = %#04x, want %#04x", f, got, want)
		}
		if back := tensor.F32FromF16(want); tensor.F16FromF32(back) != want {
			t.Errorf("half %#04x does not round-trip through f32", want)
		}
	}
}

// TestF16SpecialsMatchTorch: NaN (sign kept, payload dropped one way, kept
// and made quiet the other), f32 subnormals and signed zeros, bit for bit.
func TestF16SpecialsMatchTorch(t *testing.T) {
	r := loadQuantRef(t)
	x, _ := r.f32("x.f16special")
	b, _ := r.raw("f16.f16special", "F16")
	for i, f := range x {
		if got, want := tensor.F16FromF32(f), binary.LittleEndian.Uint16(b[2*i:]); got != want {
			t.Errorf("F16FromF32(%#08x) = %#04x, want %#04x", math.Float32bits(f), got, want)
		}
	}
	h, _ := r.raw("h.f16special", "F16")
	wide, _ := r.f32("f32.f16special")
	got := make([]float32, len(wide))
	halves := make([]uint16, len(wide))
	for i := range halves {
		halves[i] = binary.LittleEndian.Uint16(h[2*i:])
	}
	tensor.F32FromF16Slice(got, halves)
	sameBits(t, "F32FromF16", got, wide)
}

func TestTorchSum32MatchesTorch(t *testing.T) {
	r := loadQuantRef(t)
	for _, n := range []string{"5", "100", "777", "3001"} {
		x, _ := r.f32("sum." + n + ".x")
		want, _ := r.f32("sum." + n + ".sum")
		sameBits(t, "sum of "+n, []float32{tensor.TorchSum32(x)}, want)
	}
}
