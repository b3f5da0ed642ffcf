// Package tensor holds golora's n-dimensional arrays: a shape and contiguous
// row-major storage in one dtype.
//
// There is no autograd here and no hidden allocation: a Tensor is a shape, a
// dtype and a backing slice. Views (Reshape, Rows) share storage. Storage
// dtypes are f32 (compute) and bf16 (frozen weights); the DType enum and the
// accessors are laid out so that f16, int8 and 4-bit NF4 (blocks with scales)
// can be added without changing callers that only read through
// kernels.Operand or To(F32).
package tensor
