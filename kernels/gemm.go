package kernels

import (
	"fmt"
	"sync/atomic"

	"github.com/golora/golora/tensor"
)

// Operand is a read-only GEMM input: a row-major matrix with leading
// dimension Stride, stored in exactly one of f32, bf16, fp16, row-scaled
// int8 or NF4. Every non-f32 storage is widened to f32 while packing (see
// gemm_dequant.go), so a frozen weight in a narrow dtype costs bandwidth
// and a little conversion, never a full-size f32 copy.
type Operand struct {
	F32  []float32
	BF16 []uint16
	F16  []uint16
	// Int8: element (i, j) is Int8.Q[i*Stride+j]·Int8.Scale[i] (Stride must
	// equal Int8.RowLen).
	Int8 *tensor.Int8Data
	// NF4: element (i, j) is flat value i*Stride+j of NF4.
	NF4    *tensor.NF4Data
	Stride int
}

// F32Operand wraps an f32 matrix with leading dimension ld.
func F32Operand(a []float32, ld int) Operand { return Operand{F32: a, Stride: ld} }

// BF16Operand wraps a bf16 matrix with leading dimension ld.
func BF16Operand(a []uint16, ld int) Operand { return Operand{BF16: a, Stride: ld} }

// F16Operand wraps an fp16 matrix with leading dimension ld.
func F16Operand(a []uint16, ld int) Operand { return Operand{F16: a, Stride: ld} }

// TensorOperand wraps a 2-D (or flattened) tensor whose last dimension is
// the row length (for Int8, the row length of its scales).
func TensorOperand(t *tensor.Tensor) Operand {
	ld := t.Dim(-1)
	switch t.DType() {
	case tensor.F32:
		return F32Operand(t.F32(), ld)
	case tensor.BF16:
		return BF16Operand(t.BF16(), ld)
	case tensor.F16:
		return F16Operand(t.F16(), ld)
	case tensor.Int8:
		return Operand{Int8: t.Int8(), Stride: t.Int8().RowLen}
	case tensor.NF4:
		return Operand{NF4: t.NF4(), Stride: ld}
	}
	panic(fmt.Sprintf("kernels: no GEMM operand for dtype %v", t.DType()))
}

// isF32 reports whether o is stored as f32 (read in place or copied).
func (o Operand) isF32() bool { return o.BF16 == nil && o.F16 == nil && o.Int8 == nil && o.NF4 == nil }

// storages counts the storages set (exactly one is valid).
func (o Operand) storages() int {
	n := 0
	for _, set := range []bool{o.F32 != nil, o.BF16 != nil, o.F16 != nil, o.Int8 != nil, o.NF4 != nil} {
		if set {
			n++
		}
	}
	return n
}

func (o Operand) len() int {
	switch {
	case o.BF16 != nil:
		return len(o.BF16)
	case o.F16 != nil:
		return len(o.F16)
	case o.Int8 != nil:
		return len(o.Int8.Q)
	case o.NF4 != nil:
		return o.NF4.N
	}
	return len(o.F32)
}

// at reads element (i, j) as f32; used by the reference path.
func (o Operand) at(i, j int) float32 {
	e := i*o.Stride + j
	switch {
	case o.BF16 != nil:
		return tensor.F32FromBF16(o.BF16[e])
	case o.F16 != nil:
		return tensor.F32FromF16(o.F16[e])
	case o.Int8 != nil:
		return float32(o.Int8.Q[e]) * o.Int8.Scale[i]
	case o.NF4 != nil:
		return tensor.NF4Levels[o.NF4.Code(e)] * o.NF4.BlockScale(e/tensor.NF4BlockSize)
	}
	return o.F32[e]
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
	if a.storages() > 1 || b.storages() > 1 {
		panic(fmt.Sprintf("kernels: %s: an operand has more than one storage", fn))
	}
	for _, o := range []struct {
		name string
		op   Operand
	}{{"A", a}, {"B", b}} {
		if q := o.op.Int8; q != nil && (o.op.Stride != q.RowLen || len(q.Scale)*q.RowLen != len(q.Q)) {
			panic(fmt.Sprintf("kernels: %s: int8 %s has ld=%d but rows of %d values with %d scales for %d values", fn, o.name, o.op.Stride, q.RowLen, len(q.Scale), len(q.Q)))
		}
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
