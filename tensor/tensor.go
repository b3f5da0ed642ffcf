package tensor

import (
	"fmt"
	"strings"
)

// Tensor is a shape and contiguous row-major storage in one dtype.
// Exactly one of the storage slices is non-nil, matching DType.
type Tensor struct {
	shape []int
	dtype DType
	f32   []float32
	bf16  []uint16 // BF16
	f16   []uint16 // F16
	i8    *Int8Data
	nf4   *NF4Data
}

// NumElems returns the product of shape (1 for a scalar shape).
func NumElems(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("tensor: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}

// New allocates a zeroed tensor.
func New(dt DType, shape ...int) *Tensor {
	n := NumElems(shape)
	t := &Tensor{shape: append([]int(nil), shape...), dtype: dt}
	switch dt {
	case F32:
		t.f32 = make([]float32, n)
	case BF16:
		t.bf16 = make([]uint16, n)
	case F16:
		t.f16 = make([]uint16, n)
	case Int8:
		t.i8 = QuantizeInt8(make([]float32, n), int8RowLen(shape))
	case NF4:
		t.nf4 = QuantizeNF4(make([]float32, n), false)
	default:
		panic(fmt.Sprintf("tensor: New with unknown dtype %v", dt))
	}
	return t
}

// int8RowLen is the row length of an Int8 tensor: one scale per index of
// the first dimension (per output unit of a torch Linear weight).
func int8RowLen(shape []int) int {
	n := NumElems(shape)
	if len(shape) == 0 || shape[0] == 0 || n == 0 {
		return max(1, n)
	}
	return n / shape[0]
}

// FromF16 wraps data (no copy) with the given shape.
func FromF16(data []uint16, shape ...int) *Tensor {
	if NumElems(shape) != len(data) {
		panic(fmt.Sprintf("tensor: FromF16: %d values do not fill shape %v", len(data), shape))
	}
	return &Tensor{shape: append([]int(nil), shape...), dtype: F16, f16: data}
}

// FromF32 wraps data (no copy) with the given shape.
func FromF32(data []float32, shape ...int) *Tensor {
	if NumElems(shape) != len(data) {
		panic(fmt.Sprintf("tensor: FromF32: %d values do not fill shape %v", len(data), shape))
	}
	return &Tensor{shape: append([]int(nil), shape...), dtype: F32, f32: data}
}

// FromBF16 wraps data (no copy) with the given shape.
func FromBF16(data []uint16, shape ...int) *Tensor {
	if NumElems(shape) != len(data) {
		panic(fmt.Sprintf("tensor: FromBF16: %d values do not fill shape %v", len(data), shape))
	}
	return &Tensor{shape: append([]int(nil), shape...), dtype: BF16, bf16: data}
}

// DType returns the storage type.
func (t *Tensor) DType() DType { return t.dtype }

// Shape returns the shape; callers must not modify it.
func (t *Tensor) Shape() []int { return t.shape }

// Dim returns the size of dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.shape)
	}
	return t.shape[i]
}

// Len returns the number of elements.
func (t *Tensor) Len() int { return NumElems(t.shape) }

// Bytes returns the storage size in bytes, scales included.
func (t *Tensor) Bytes() int64 {
	switch t.dtype {
	case Int8:
		return t.i8.Bytes()
	case NF4:
		return t.nf4.Bytes()
	}
	return int64(t.Len()) * int64(t.dtype.Size())
}

// F32 returns the f32 storage. It panics if the tensor is not f32: callers
// that accept any dtype read through To(F32) or kernels.Operand.
func (t *Tensor) F32() []float32 {
	if t.dtype != F32 {
		panic(fmt.Sprintf("tensor: F32() on a %v tensor %v", t.dtype, t.shape))
	}
	return t.f32
}

// BF16 returns the bf16 storage; it panics if the tensor is not bf16.
func (t *Tensor) BF16() []uint16 {
	if t.dtype != BF16 {
		panic(fmt.Sprintf("tensor: BF16() on a %v tensor %v", t.dtype, t.shape))
	}
	return t.bf16
}

// F16 returns the fp16 storage; it panics if the tensor is not F16.
func (t *Tensor) F16() []uint16 {
	if t.dtype != F16 {
		panic(fmt.Sprintf("tensor: F16() on a %v tensor %v", t.dtype, t.shape))
	}
	return t.f16
}

// Int8 returns the int8 storage; it panics if the tensor is not Int8.
func (t *Tensor) Int8() *Int8Data {
	if t.dtype != Int8 {
		panic(fmt.Sprintf("tensor: Int8() on a %v tensor %v", t.dtype, t.shape))
	}
	return t.i8
}

// NF4 returns the NF4 storage; it panics if the tensor is not NF4.
func (t *Tensor) NF4() *NF4Data {
	if t.dtype != NF4 {
		panic(fmt.Sprintf("tensor: NF4() on a %v tensor %v", t.dtype, t.shape))
	}
	return t.nf4
}

// DoubleQuant reports whether t is NF4 with double-quantised absmax.
func (t *Tensor) DoubleQuant() bool { return t.dtype == NF4 && t.nf4.DoubleQuant() }

// Reshape returns a view with a new shape of the same element count.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	if NumElems(shape) != t.Len() {
		panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.shape, shape))
	}
	v := *t
	v.shape = append([]int(nil), shape...)
	return &v
}

// Rows returns a view of indices [i, j) of the first dimension.
func (t *Tensor) Rows(i, j int) *Tensor {
	if len(t.shape) == 0 || i < 0 || j < i || j > t.shape[0] {
		panic(fmt.Sprintf("tensor: Rows(%d, %d) out of range for shape %v", i, j, t.shape))
	}
	inner := NumElems(t.shape[1:])
	v := &Tensor{shape: append([]int{j - i}, t.shape[1:]...), dtype: t.dtype}
	switch t.dtype {
	case F32:
		v.f32 = t.f32[i*inner : j*inner : j*inner]
	case BF16:
		v.bf16 = t.bf16[i*inner : j*inner : j*inner]
	case F16:
		v.f16 = t.f16[i*inner : j*inner : j*inner]
	default:
		panic(fmt.Sprintf("tensor: Rows of a quantised %v tensor (quantisation blocks do not follow rows)", t.dtype))
	}
	return v
}

// To returns a copy converted to dt (a plain copy when dt is t's dtype).
// Floats round to nearest even; Int8 and NF4 quantise as bitsandbytes does
// (NF4 without double quantisation: see Quantize) and dequantise exactly.
func (t *Tensor) To(dt DType) *Tensor { return t.Quantize(dt, false) }

// Quantize is To with, for NF4, the choice of double quantisation of the
// absmax values (bitsandbytes compress_statistics).
func (t *Tensor) Quantize(dt DType, doubleQuant bool) *Tensor {
	if t.dtype == dt && (dt != NF4 || t.nf4.DoubleQuant() == doubleQuant) {
		return t.clone()
	}
	src := t.f32
	if t.dtype != F32 {
		src = make([]float32, t.Len())
		t.Dequantize(src, 0)
	}
	out := &Tensor{shape: append([]int(nil), t.shape...), dtype: dt}
	switch dt {
	case F32:
		if t.dtype == F32 {
			src = append([]float32(nil), src...)
		}
		out.f32 = src
	case BF16:
		out.bf16 = make([]uint16, len(src))
		BF16FromF32Slice(out.bf16, src)
	case F16:
		out.f16 = make([]uint16, len(src))
		F16FromF32Slice(out.f16, src)
	case Int8:
		out.i8 = QuantizeInt8(src, int8RowLen(t.shape))
	case NF4:
		out.nf4 = QuantizeNF4(src, doubleQuant)
	default:
		panic(fmt.Sprintf("tensor: no conversion %v -> %v", t.dtype, dt))
	}
	return out
}

// Dequantize writes elements [off, off+len(dst)) of the flattened tensor
// into dst as f32, whatever the storage.
func (t *Tensor) Dequantize(dst []float32, off int) {
	switch t.dtype {
	case F32:
		copy(dst, t.f32[off:off+len(dst)])
	case BF16:
		F32FromBF16Slice(dst, t.bf16[off:off+len(dst)])
	case F16:
		F32FromF16Slice(dst, t.f16[off:off+len(dst)])
	case Int8:
		t.i8.Dequantize(dst, off)
	case NF4:
		t.nf4.Dequantize(dst, off)
	default:
		panic(fmt.Sprintf("tensor: Dequantize of dtype %v", t.dtype))
	}
}

// clone is a deep copy in the same storage.
func (t *Tensor) clone() *Tensor {
	out := &Tensor{shape: append([]int(nil), t.shape...), dtype: t.dtype}
	switch t.dtype {
	case F32:
		out.f32 = append(make([]float32, 0, len(t.f32)), t.f32...)
	case BF16:
		out.bf16 = append(make([]uint16, 0, len(t.bf16)), t.bf16...)
	case F16:
		out.f16 = append(make([]uint16, 0, len(t.f16)), t.f16...)
	case Int8:
		q := *t.i8
		q.Q, q.Scale = append([]int8(nil), q.Q...), append([]float32(nil), q.Scale...)
		out.i8 = &q
	case NF4:
		q := *t.nf4
		q.Packed = append([]byte(nil), q.Packed...)
		q.Absmax = cloneF32(q.Absmax)
		q.Absmax2 = cloneF32(q.Absmax2)
		if q.QAbsmax != nil {
			q.QAbsmax = append([]uint8(nil), q.QAbsmax...)
		}
		out.nf4 = &q
	default:
		panic(fmt.Sprintf("tensor: clone of dtype %v", t.dtype))
	}
	return out
}

func cloneF32(s []float32) []float32 {
	if s == nil {
		return nil
	}
	return append([]float32(nil), s...)
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor { return t.clone() }

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b []int) bool {
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

// String gives dtype and shape, e.g. "F32[8 197 192]".
func (t *Tensor) String() string {
	s := make([]string, len(t.shape))
	for i, d := range t.shape {
		s[i] = fmt.Sprint(d)
	}
	return fmt.Sprintf("%v[%s]", t.dtype, strings.Join(s, " "))
}
