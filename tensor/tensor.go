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
	bf16  []uint16
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
	default:
		panic(fmt.Sprintf("tensor: New with unknown dtype %v", dt))
	}
	return t
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

// Bytes returns the storage size in bytes.
func (t *Tensor) Bytes() int64 { return int64(t.Len()) * int64(t.dtype.Size()) }

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
	}
	return v
}

// To returns a copy converted to dt (a plain copy when dt is t's dtype).
func (t *Tensor) To(dt DType) *Tensor {
	out := New(dt, t.shape...)
	switch {
	case t.dtype == F32 && dt == F32:
		copy(out.f32, t.f32)
	case t.dtype == BF16 && dt == BF16:
		copy(out.bf16, t.bf16)
	case t.dtype == F32 && dt == BF16:
		BF16FromF32Slice(out.bf16, t.f32)
	case t.dtype == BF16 && dt == F32:
		F32FromBF16Slice(out.f32, t.bf16)
	default:
		panic(fmt.Sprintf("tensor: no conversion %v -> %v", t.dtype, dt))
	}
	return out
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor { return t.To(t.dtype) }

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
