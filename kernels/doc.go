// Package kernels is golora's numeric core: one GEMM entry point and the row
// kernels a transformer needs (softmax, layernorm, GELU, bias, residual,
// dropout, fused cross-entropy, AdamW), each with the backward that training
// needs.
//
// Conventions, the same in every kernel:
//   - Matrices are row-major float32 slices with an explicit leading dimension.
//   - Backward kernels ADD into their gradient outputs (llm.c style); callers
//     zero gradient buffers once per step. A nil gradient output is skipped,
//     which is how frozen parameters cost nothing.
//   - Inconsistent sizes or leading dimensions are programming errors and
//     panic with a message that starts with "kernels:" and names the
//     offending argument, as BLAS and gonum do. Errors from user input (files,
//     configs, flags) are returned as errors by the packages above this one.
//
// Work is split over a pool of GOMAXPROCS goroutines (SetThreads changes it);
// the pool is the only global state in golora besides the call counters.
package kernels
