// Package tensor holds golora's n-dimensional arrays: a shape and contiguous
// row-major storage in one dtype.
//
// There is no autograd here and no hidden allocation: a Tensor is a shape, a
// dtype and a backing slice. Views (Reshape, Rows) share storage. Storage
// dtypes are f32 (compute) and, for frozen weights, bf16, fp16, int8 (one
// absmax scale per row, LLM.int8-style) and bitsandbytes' 4-bit NF4 (blocks
// of 64 with an absmax each, optionally double-quantised), matched bit for
// bit against a torch re-implementation (testdata/gen_quant.py). Callers
// read any of them through kernels.Operand (widened while the GEMM packs)
// or To(F32).
package tensor
