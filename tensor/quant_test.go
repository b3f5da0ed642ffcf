package tensor

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestF32FromF16AllHalves checks the inlined widening against the field by
// field definition for every one of the 65,536 halves, bit for bit.
func TestF32FromF16AllHalves(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		got, want := math.Float32bits(F32FromF16(uint16(h))), math.Float32bits(f32FromF16Bits(uint16(h)))
		if got != want {
			t.Fatalf("F32FromF16(%#04x) = %#08x, want %#08x", h, got, want)
		}
		// Every non-NaN half survives the round trip through f32.
		if f := F32FromF16(uint16(h)); f == f && F16FromF32(f) != uint16(h) {
			t.Fatalf("round trip %#04x -> %v -> %#04x", h, f, F16FromF32(f))
		}
	}
	slice := make([]float32, 3)
	F32FromF16Slice(slice, []uint16{0x3c00, 0x0001, 0xfc00})
	if slice[0] != 1 || slice[1] != 1.0/(1<<24) || !math.IsInf(float64(slice[2]), -1) {
		t.Errorf("F32FromF16Slice = %v", slice)
	}
}

// TestStorageBytesMatchesTensors checks StorageBytes, the planner's
// formula, against the storage that New and Quantize really allocate.
func TestStorageBytesMatchesTensors(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, shape := range [][]int{{1}, {7}, {64}, {65}, {3, 5}, {192, 192}, {768, 192}, {96, 3, 7, 7}, {300, 257}, {0, 4}} {
		n := NumElems(shape)
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		src := FromF32(x, shape...)
		for _, dt := range DTypes {
			for _, dq := range []bool{false, true} {
				if dq && dt != NF4 {
					continue
				}
				q := src.Quantize(dt, dq)
				want := StorageBytes(dt, dq, shape...)
				if q.Bytes() != want {
					t.Errorf("%v dq=%v %v: Bytes %d, StorageBytes %d", dt, dq, shape, q.Bytes(), want)
				}
				if !dq && New(dt, shape...).Bytes() != want {
					t.Errorf("New(%v, %v).Bytes() = %d, want %d", dt, shape, New(dt, shape...).Bytes(), want)
				}
				if q.DoubleQuant() != dq || q.DType() != dt || !SameShape(q.Shape(), shape) {
					t.Errorf("%v dq=%v %v: got %v double quant %v", dt, dq, shape, q, q.DoubleQuant())
				}
			}
		}
	}
	// The sizes the README quotes: NF4 is 0.5625 bytes a value (0.14x of
	// f32), 0.5157 with double quantisation; int8 1 + 4/row.
	if got := StorageBytes(NF4, false, 192, 192); got != 192*192/2+4*192*192/64 {
		t.Errorf("NF4 192x192: %d bytes", got)
	}
	if got := StorageBytes(NF4, true, 192, 192); got != 192*192/2+192*192/64+4*3+4 {
		t.Errorf("NF4 double-quantised 192x192: %d bytes", got)
	}
	if got := StorageBytes(Int8, false, 768, 192); got != 768*192+4*768 {
		t.Errorf("int8 768x192: %d bytes", got)
	}
}

// TestQuantizedTensors: zero tensors dequantise to zeros, conversions
// between dtypes go through the exact dequantised values, clones are deep,
// and views that would cut quantisation blocks are refused with a message.
func TestQuantizedTensors(t *testing.T) {
	for _, dt := range DTypes {
		z := New(dt, 5, 13)
		d := make([]float32, z.Len())
		z.Dequantize(d, 0)
		for i, v := range d {
			if v != 0 {
				t.Fatalf("New(%v) value %d = %v", dt, i, v)
			}
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 6*70)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	src := FromF32(x, 6, 70)
	for _, dt := range []DType{Int8, NF4} {
		q := src.Quantize(dt, dt == NF4)
		deq := q.To(F32).F32()
		// Quantising the dequantised values again gives the same codes.
		again := FromF32(deq, 6, 70).Quantize(dt, false)
		if dt == Int8 && string(int8Bytes(again.Int8().Q)) != string(int8Bytes(q.Int8().Q)) ||
			dt == NF4 && string(again.NF4().Packed) != string(q.NF4().Packed) {
			t.Errorf("%v: re-quantising the dequantised values changes the codes", dt)
		}
		// A read from an offset agrees with the whole.
		part := make([]float32, 100)
		q.Dequantize(part, 77)
		if !equalBits(part, deq[77:177]) {
			t.Errorf("%v: Dequantize at an offset differs", dt)
		}
		c := q.Clone()
		if dt == Int8 {
			c.Int8().Q[0]++
			if q.Int8().Q[0] == c.Int8().Q[0] {
				t.Error("Clone shares int8 codes")
			}
		} else {
			c.NF4().Packed[0] ^= 0xff
			c.NF4().QAbsmax[0]++
			if q.NF4().Packed[0] == c.NF4().Packed[0] || q.NF4().QAbsmax[0] == c.NF4().QAbsmax[0] {
				t.Error("Clone shares NF4 storage")
			}
		}
		func() {
			defer func() {
				if s, _ := recover().(string); !strings.Contains(s, "quantisation blocks") {
					t.Errorf("Rows of %v: panic %q", dt, s)
				}
			}()
			q.Rows(0, 1)
		}()
	}
	// fp16 storage: Rows views share it; To(F16) of f16 values is exact.
	h := src.To(F16)
	r := h.Rows(2, 4)
	r.F16()[0] = 0x3c00
	if h.F16()[2*70] != 0x3c00 {
		t.Error("Rows of an F16 tensor does not share storage")
	}
	if back := h.To(F32).To(F16); !equalU16(back.F16(), h.F16()) {
		t.Error("F16 -> F32 -> F16 is not exact")
	}
	// Quantize to NF4 with and without double quantisation are different
	// storages; To(NF4) of a double-quantised tensor re-quantises.
	dq := src.Quantize(NF4, true)
	if dq.To(NF4).DoubleQuant() || !dq.Quantize(NF4, true).DoubleQuant() {
		t.Error("To/Quantize keep the wrong double-quantisation setting")
	}
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func int8Bytes(q []int8) []byte {
	b := make([]byte, len(q))
	for i, v := range q {
		b[i] = byte(v)
	}
	return b
}

func equalU16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
