package tensor

import (
	"math"
	"strings"
	"testing"
)

func TestBF16RoundToNearestEven(t *testing.T) {
	for _, tc := range []struct {
		in   uint32 // f32 bits
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1.0 exact
		{0x3f808000, 0x3f80}, // tie, lower kept bit even: stays
		{0x3f818000, 0x3f82}, // tie, lower kept bit odd: rounds up to even
		{0x3f807fff, 0x3f80}, // just below the tie
		{0x3f808001, 0x3f81}, // just above the tie
		{0x7f7fffff, 0x7f80}, // max float rounds to +Inf, as torch
		{0xff800000, 0xff80}, // -Inf
		{0x80000000, 0x8000}, // -0
		{0x00000001, 0x0000}, // smallest subnormal rounds to 0
	} {
		if got := BF16FromF32(math.Float32frombits(tc.in)); got != tc.want {
			t.Errorf("BF16FromF32(%#08x) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
	nan := BF16FromF32(float32(math.NaN()))
	if f := F32FromBF16(nan); !math.IsNaN(float64(f)) {
		t.Errorf("NaN became %v", f)
	}
	// A NaN whose payload sits only in the low bits must stay NaN, not Inf.
	if f := F32FromBF16(BF16FromF32(math.Float32frombits(0x7f800001))); !math.IsNaN(float64(f)) {
		t.Errorf("low-payload NaN became %v", f)
	}
	// Widening is exact and every bf16 survives a round trip.
	for h := 0; h < 1<<16; h++ {
		f := F32FromBF16(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := BF16FromF32(f); back != uint16(h) {
			t.Fatalf("round trip %#04x -> %v -> %#04x", h, f, back)
		}
	}
}

func TestViewsShareStorage(t *testing.T) {
	x := New(F32, 3, 4)
	for i := range x.F32() {
		x.F32()[i] = float32(i)
	}
	r := x.Rows(1, 3)
	if r.Dim(0) != 2 || r.Dim(-1) != 4 || r.F32()[0] != 4 {
		t.Fatalf("Rows(1,3) = %v starting %v", r, r.F32()[0])
	}
	r.F32()[0] = 100
	if x.F32()[4] != 100 {
		t.Error("Rows does not share storage")
	}
	v := x.Reshape(2, 6)
	if v.Dim(1) != 6 || &v.F32()[0] != &x.F32()[0] {
		t.Error("Reshape does not share storage")
	}
	c := x.Clone()
	c.F32()[0] = -1
	if x.F32()[0] == -1 {
		t.Error("Clone shares storage")
	}
	if got := x.To(BF16).To(F32); got.F32()[5] != 5 || got.DType() != F32 || x.String() != "F32[3 4]" {
		t.Errorf("conversion round trip %v %v", got.F32()[5], x)
	}
	if New(F32, 0, 3).To(BF16).Len() != 0 {
		t.Error("empty conversion")
	}
	if x.Bytes() != 48 || x.To(BF16).Bytes() != 24 {
		t.Error("Bytes")
	}
}

func TestMisuseNamesTheProblem(t *testing.T) {
	for _, tc := range []struct {
		f    func()
		want string
	}{
		{func() { FromF32(make([]float32, 5), 2, 3) }, "do not fill shape"},
		{func() { New(F32, 2, 3).Reshape(4, 2) }, "cannot reshape"},
		{func() { New(F32, 2, 3).Rows(1, 3) }, "out of range"},
		{func() { New(BF16, 2).F32() }, "F32() on a BF16"},
	} {
		func() {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tc.want) {
					t.Errorf("panic %v, want %q", r, tc.want)
				}
			}()
			tc.f()
		}()
	}
	if _, err := ParseDType("f8"); err == nil {
		t.Error("ParseDType accepted an unsupported dtype")
	}
	if d, err := ParseDType("bfloat16"); err != nil || d != BF16 {
		t.Error("ParseDType(bfloat16)")
	}
}
