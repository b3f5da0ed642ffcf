package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/tensor"
)

// quantStorage is one way of storing a GEMM operand in a narrow dtype.
type quantStorage struct {
	name string
	dt   tensor.DType
	dq   bool // NF4 double quantisation
}

var quantStorages = []quantStorage{
	{"f16", tensor.F16, false},
	{"int8", tensor.Int8, false},
	{"nf4", tensor.NF4, false},
	{"nf4-dq", tensor.NF4, true},
}

// quantOperand returns a rows×cols operand stored as s from values
// uniform in [-1, 1), and the dequantised matrix (f32) and its absolute
// values as f32 operands.
func quantOperand(rng *rand.Rand, s quantStorage, rows, cols int) (op, deq, abs Operand) {
	f := make([]float32, rows*cols)
	for i := range f {
		f[i] = float32(rng.Float64()*2 - 1)
	}
	q := tensor.FromF32(f, rows, cols).Quantize(s.dt, s.dq)
	d := make([]float32, len(f))
	q.Dequantize(d, 0)
	a := make([]float32, len(f))
	for i, x := range d {
		a[i] = float32(math.Abs(float64(x)))
	}
	op = TensorOperand(q)
	op.Stride = cols // as nn.Linear sets it
	return op, F32Operand(d, cols), F32Operand(a, cols)
}

// TestGemmQuantizedOperands checks Gemm with fp16, int8 and NF4 (with and
// without double quantisation) operands, as A or B, every transpose, odd
// sizes and several k blocks, against GemmRef on the dequantised f32
// matrices, with the bound of checkGemmCase. The dequantised values come
// from the tensor package, independently of the packing code under test.
func TestGemmQuantizedOperands(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	shapes := [][3]int{{7, 17, 5}, {17, 7, 63}, {65, 63, 100}, {13, 40, 300}, {1, 100, 129}, {150, 33, 65}}
	for _, im := range gemmImpls() {
		t.Run(im.name, func(t *testing.T) {
			im.use(t)
			for _, st := range quantStorages {
				for _, s := range shapes {
					for tr := 0; tr < 8; tr++ {
						transA, transB, quantA := tr&1 != 0, tr&2 != 0, tr&4 != 0
						checkQuantGemm(t, rng, st, s[0], s[1], s[2], transA, transB, quantA, im.serialAPI)
					}
				}
			}
		})
	}
}

func checkQuantGemm(t *testing.T, rng *rand.Rand, st quantStorage, m, n, k int, transA, transB, quantA, serial bool) {
	t.Helper()
	name := fmt.Sprintf("%s_m%d_n%d_k%d_tA%v_tB%v_quantA%v", st.name, m, n, k, transA, transB, quantA)
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	var a, da, absA, b, db, absB Operand
	if quantA {
		a, da, absA = quantOperand(rng, st, ar, ac)
		b, _ = randOperand(rng, br, bc, 0, false)
		db, absB = b, absOperand(b)
	} else {
		b, db, absB = quantOperand(rng, st, br, bc)
		a, _ = randOperand(rng, ar, ac, 0, false)
		da, absA = a, absOperand(a)
	}
	want := make([]float32, m*n)
	GemmRef(transA, transB, m, n, k, 1, da, db, 0, want, n)
	mag := make([]float32, m*n)
	GemmRef(transA, transB, m, n, k, 1, absA, absB, 0, mag, n)
	got := make([]float32, m*n)
	for i := range got {
		got[i] = float32(math.NaN())
	}
	if serial {
		GemmSerial(transA, transB, m, n, k, 1, a, b, 0, got, n)
	} else {
		Gemm(transA, transB, m, n, k, 1, a, b, 0, got, n)
	}
	tol := float64(k+4) / (1 << 24)
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol*float64(mag[i])+1e-30) {
			t.Fatalf("%s: C[%d,%d] = %g, want %g", name, i/n, i%n, got[i], want[i])
		}
	}
	// The reference read through the quantised operand itself agrees too.
	ref := make([]float32, m*n)
	GemmRef(transA, transB, m, n, k, 1, a, b, 0, ref, n)
	for i := range ref {
		if ref[i] != want[i] {
			t.Fatalf("%s: GemmRef on the quantised operand C[%d] = %g, on the dequantised %g", name, i, ref[i], want[i])
		}
	}
}

func absOperand(o Operand) Operand {
	a := make([]float32, len(o.F32))
	for i, x := range o.F32 {
		a[i] = float32(math.Abs(float64(x)))
	}
	return F32Operand(a, o.Stride)
}

// TestGemmInt8StrideMismatchPanics: an int8 operand's rows are its scale
// rows; a different leading dimension is refused with a message.
func TestGemmInt8StrideMismatchPanics(t *testing.T) {
	q := tensor.New(tensor.F32, 4, 6).To(tensor.Int8)
	op := TensorOperand(q)
	op.Stride = 3
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("no panic")
		}
	}()
	c := make([]float32, 8*2)
	Gemm(false, false, 8, 2, 3, 1, op, F32Operand(make([]float32, 6), 2), 0, c, 2)
}
