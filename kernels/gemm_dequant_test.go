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
	impls := gemmImpls()
	for _, st := range quantStorages {
		for _, s := range shapes {
			for tr := 0; tr < 8; tr++ {
				transA, transB, quantA := tr&1 != 0, tr&2 != 0, tr&4 != 0
				p := newQuantProblem(t, rng, st, s[0], s[1], s[2], transA, transB, quantA)
				forEachImpl(impls, func(im gemmImpl) { p.check(t, im.name+": ", im.serialAPI) })
			}
		}
	}
}

// checkQuantGemm checks one product with a quantised operand on the
// current implementation.
func checkQuantGemm(t *testing.T, rng *rand.Rand, st quantStorage, m, n, k int, transA, transB, quantA, serial bool) {
	t.Helper()
	newQuantProblem(t, rng, st, m, n, k, transA, transB, quantA).check(t, KernelPath()+": ", serial)
}

// quantProblem is a product with A or B quantised, its reference on the
// dequantised matrices and the magnitude sums of the error bound.
type quantProblem struct {
	name      string
	m, n, k   int
	tA, tB    bool
	a, b      Operand
	want, mag []float32
}

func newQuantProblem(t testing.TB, rng *rand.Rand, st quantStorage, m, n, k int, transA, transB, quantA bool) *quantProblem {
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
	// The reference read through the quantised operand itself agrees too.
	ref := make([]float32, m*n)
	GemmRef(transA, transB, m, n, k, 1, a, b, 0, ref, n)
	for i := range ref {
		if ref[i] != want[i] {
			t.Fatalf("%s: GemmRef on the quantised operand C[%d] = %g, on the dequantised %g", name, i, ref[i], want[i])
		}
	}
	return &quantProblem{name: name, m: m, n: n, k: k, tA: transA, tB: transB, a: a, b: b, want: want, mag: mag}
}

func (p *quantProblem) check(t *testing.T, impl string, serial bool) {
	t.Helper()
	m, n, k := p.m, p.n, p.k
	got := make([]float32, m*n)
	for i := range got {
		got[i] = float32(math.NaN())
	}
	if serial {
		GemmSerial(p.tA, p.tB, m, n, k, 1, p.a, p.b, 0, got, n)
	} else {
		Gemm(p.tA, p.tB, m, n, k, 1, p.a, p.b, 0, got, n)
	}
	tol := float64(k+4) / (1 << 24)
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(p.want[i])); !(d <= tol*float64(p.mag[i])+1e-30) {
			t.Fatalf("%s%s: C[%d,%d] = %g, want %g", impl, p.name, i/n, i%n, got[i], p.want[i])
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

// TestGemmQuantizedWeightNeverWidenedWhole runs the two products a frozen
// Linear makes with its weight W [out, in], the forward x·Wᵀ (NT) and the
// input gradient dY·W (NN), with W in NF4 and int8, and checks that no
// packing buffer ever held as many floats as W has values: the weight is
// widened block by block (at most gemmKC×gemmNC values at a time, or the
// whole op(B) in the dynamic row split, which only small products use),
// never as a full f32 copy. The results equal the same products on the
// dequantised f32 weight bit for bit: packing widens to the same values
// and the kernels then do the same arithmetic.
func TestGemmQuantizedWeightNeverWidenedWhole(t *testing.T) {
	const m, in, out = 13, 1024, 2048
	rng := rand.New(rand.NewPCG(12, 13))
	x, _ := randOperand(rng, m, in, 0, false)
	dy, _ := randOperand(rng, m, out, 0, false)
	for _, st := range []quantStorage{{"int8", tensor.Int8, false}, {"nf4-dq", tensor.NF4, true}} {
		w, deq, _ := quantOperand(rng, st, out, in)
		for _, threads := range []int{1, 2} {
			old := SetThreads(threads)
			workFree.Lock()
			saved := workFree.list
			workFree.list = nil
			workFree.Unlock()
			y, yRef := make([]float32, m*out), make([]float32, m*out)
			Gemm(false, true, m, out, in, 1, x, w, 0, y, out)
			Gemm(false, true, m, out, in, 1, x, deq, 0, yRef, out)
			dx, dxRef := make([]float32, m*in), make([]float32, m*in)
			Gemm(false, false, m, in, out, 1, dy, w, 0, dx, in)
			Gemm(false, false, m, in, out, 1, dy, deq, 0, dxRef, in)
			workFree.Lock()
			largest := 0
			for _, wk := range workFree.list {
				largest = max(largest, cap(wk.a), cap(wk.b))
			}
			workFree.list = saved
			workFree.Unlock()
			SetThreads(old)
			if largest == 0 || largest >= in*out/2 {
				t.Errorf("%s, %d threads: largest packing buffer %d floats for a weight of %d values", st.name, threads, largest, in*out)
			}
			for i := range y {
				if math.Float32bits(y[i]) != math.Float32bits(yRef[i]) {
					t.Fatalf("%s, %d threads: x·Wᵀ[%d] = %v, on the dequantised weight %v", st.name, threads, i, y[i], yRef[i])
				}
			}
			for i := range dx {
				if math.Float32bits(dx[i]) != math.Float32bits(dxRef[i]) {
					t.Fatalf("%s, %d threads: dY·W[%d] = %v, on the dequantised weight %v", st.name, threads, i, dx[i], dxRef[i])
				}
			}
		}
	}
}
