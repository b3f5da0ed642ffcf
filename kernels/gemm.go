package kernels

import (
	"fmt"
	"sync/atomic"

	"github.com/golora/golora/tensor"
)

// Operand is a read-only GEMM input: a row-major matrix stored as f32 or
// bf16 with leading dimension Stride. bf16 values are widened while packing,
// so a bf16 frozen weight costs bandwidth, not a slower kernel.
type Operand struct {
	F32    []float32
	BF16   []uint16
	Stride int
}

// F32Operand wraps an f32 matrix with leading dimension ld.
func F32Operand(a []float32, ld int) Operand { return Operand{F32: a, Stride: ld} }

// BF16Operand wraps a bf16 matrix with leading dimension ld.
func BF16Operand(a []uint16, ld int) Operand { return Operand{BF16: a, Stride: ld} }

// TensorOperand wraps a 2-D (or flattened) tensor whose last dimension is
// the row length.
func TensorOperand(t *tensor.Tensor) Operand {
	ld := t.Dim(-1)
	switch t.DType() {
	case tensor.F32:
		return F32Operand(t.F32(), ld)
	case tensor.BF16:
		return BF16Operand(t.BF16(), ld)
	}
	panic(fmt.Sprintf("kernels: no GEMM operand for dtype %v", t.DType()))
}

func (o Operand) len() int {
	if o.BF16 != nil {
		return len(o.BF16)
	}
	return len(o.F32)
}

// at reads element (i, j) as f32; used by the reference path and packing.
func (o Operand) at(i, j int) float32 {
	if o.BF16 != nil {
		return tensor.F32FromBF16(o.BF16[i*o.Stride+j])
	}
	return o.F32[i*o.Stride+j]
}

// Counters are cumulative GEMM statistics since process start, so tests and
// benchmarks can check which products ran (e.g. that no frozen dW is computed).
type Counters struct {
	Calls int64 // GEMM calls with m, n, k > 0
	Flops int64 // 2·m·n·k summed over those calls
}

var gemmCalls, gemmFlops atomic.Int64

// ReadCounters returns the current GEMM counters.
func ReadCounters() Counters {
	return Counters{Calls: gemmCalls.Load(), Flops: gemmFlops.Load()}
}

// Sub returns c - d, the work done between two readings.
func (c Counters) Sub(d Counters) Counters {
	return Counters{Calls: c.Calls - d.Calls, Flops: c.Flops - d.Flops}
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for f32 slices, where op(X)
// is X or Xᵀ. op(A) is m×k, op(B) is k×n, C is m×n; lda, ldb, ldc are the
// row strides of the matrices as stored. When beta == 0, C is not read (NaNs
// in C are overwritten), as in BLAS.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Gemm(transA, transB, m, n, k, alpha, F32Operand(a, lda), F32Operand(b, ldb), beta, c, ldc)
}

// Gemm is Sgemm with operands in any storage dtype, parallel over the pool.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a, b Operand, beta float32, c []float32, ldc int) {
	checkGemm("Gemm", transA, transB, m, n, k, a, b, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	gemmCalls.Add(1)
	gemmFlops.Add(2 * int64(m) * int64(n) * int64(k))
	gemm(transA, transB, m, n, k, alpha, a, b, beta, c, ldc, Threads())
}

// GemmSerial is Gemm on the calling goroutine only, for callers that already
// split work across the pool (e.g. attention over batch × heads).
func GemmSerial(transA, transB bool, m, n, k int, alpha float32, a, b Operand, beta float32, c []float32, ldc int) {
	checkGemm("GemmSerial", transA, transB, m, n, k, a, b, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	gemmCalls.Add(1)
	gemmFlops.Add(2 * int64(m) * int64(n) * int64(k))
	gemm(transA, transB, m, n, k, alpha, a, b, beta, c, ldc, 1)
}

// GemmRef is the plain triple-loop definition of Gemm (float64 accumulation),
// the reference every fast path is tested against. It does not count.
func GemmRef(transA, transB bool, m, n, k int, alpha float32, a, b Operand, beta float32, c []float32, ldc int) {
	checkGemm("GemmRef", transA, transB, m, n, k, a, b, c, ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var x, y float32
				if transA {
					x = a.at(p, i)
				} else {
					x = a.at(i, p)
				}
				if transB {
					y = b.at(j, p)
				} else {
					y = b.at(p, j)
				}
				s += float64(x) * float64(y)
			}
			v := alpha * float32(s)
			if beta != 0 {
				v += beta * c[i*ldc+j]
			}
			c[i*ldc+j] = v
		}
	}
}

// checkGemm panics with a precise message when sizes and strides do not fit.
func checkGemm(fn string, transA, transB bool, m, n, k int, a, b Operand, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: %s: negative size m=%d n=%d k=%d", fn, m, n, k))
	}
	if a.F32 != nil && a.BF16 != nil || b.F32 != nil && b.BF16 != nil {
		panic(fmt.Sprintf("kernels: %s: an operand has both f32 and bf16 storage", fn))
	}
	check := func(name string, o Operand, rows, cols int) {
		if rows == 0 || cols == 0 {
			return
		}
		if o.Stride < cols {
			panic(fmt.Sprintf("kernels: %s: ld%s=%d < %d columns", fn, name, o.Stride, cols))
		}
		if need := (rows-1)*o.Stride + cols; o.len() < need {
			panic(fmt.Sprintf("kernels: %s: %s has %d elements, %dx%d with ld=%d needs %d", fn, name, o.len(), rows, cols, o.Stride, need))
		}
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	check("A", a, ar, ac)
	check("B", b, br, bc)
	if m > 0 && n > 0 {
		if ldc < n {
			panic(fmt.Sprintf("kernels: %s: ldc=%d < n=%d", fn, ldc, n))
		}
		if need := (m-1)*ldc + n; len(c) < need {
			panic(fmt.Sprintf("kernels: %s: C has %d elements, %dx%d with ldc=%d needs %d", fn, len(c), m, n, ldc, need))
		}
	}
}
