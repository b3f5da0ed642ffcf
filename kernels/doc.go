// Package kernels is golora's numeric core: one GEMM entry point and the row
// kernels a transformer needs (softmax, layernorm, RMSNorm, GELU,
// SiLU/SwiGLU, rotary embeddings, bias, residual, dropout, fused
// cross-entropy, AdamW), each with the backward that training needs.
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
// # Kernel paths
//
// The GEMM micro-kernel and the row kernels run on one of three instruction
// sets, chosen once at start: "zmm" (AVX-512, 16 float32 lanes: an 8×32 GEMM
// tile and a 16×16 one for products at most 16 columns wide) when the CPU has
// AVX-512 F/DQ/BW/VL, else "ymm" (AVX2+FMA, 8 lanes, a 6×16 tile), else "go"
// (portable Go, also the only path with the purego build tag or off amd64).
// The assembly is generated with avo by internal/asmgen (go generate). The
// environment variable GOLORA_KERNELS=zmm|ymm|go forces a path at start and
// SetKernelPath at run time, so tests and benchmarks run every path on one
// machine; KernelPath reports the active one, MeasurePeakGFLOPS its FMA peak.
// The tile sizes, cache blocking, packing panel widths and edge tiles follow
// the kernel of each call, and every operand dtype (f32, bf16, fp16, int8,
// NF4) is widened while packing for all of them. The paths are tested
// against each other and against the reference GemmRef and the float64 row
// loops.
//
// # Threads
//
// Work is split over SetThreads(n) goroutines (default GOMAXPROCS), any
// count: a GEMM over a 2-D grid of blocks of C (or over dynamically claimed
// row chunks when B is small), keeping products under about 2^23 flops per
// worker on the caller's goroutine; row kernels over contiguous rows, small
// inputs serially. Each GEMM element is computed by one worker in the same
// order whatever the split, and row reductions run over chunks fixed by the
// sizes alone, so results are bitwise the same for any thread count. The pool and the kernel
// path are the only global state in golora besides the call counters.
package kernels
