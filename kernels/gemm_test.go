package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/golora/golora/tensor"
)

// gemmCase is one product to check against GemmRef.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	padA, padB     int // leading dimension minus row length
	padC           int
	bf16A, bf16B   bool
	alpha, beta    float32
}

func (tc gemmCase) String() string {
	tr := func(t bool) string {
		if t {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s_m%d_n%d_k%d_pad%d,%d,%d_bf16%v,%v_a%g_b%g", tr(tc.transA), tr(tc.transB),
		tc.m, tc.n, tc.k, tc.padA, tc.padB, tc.padC, tc.bf16A, tc.bf16B, tc.alpha, tc.beta)
}

// gemmImpl is one way of running the fast path: kernel path, A packing
// policy, threads.
type gemmImpl struct {
	name      string
	path      isa
	packA     int // gemmPackAForce
	threads   int
	minFlops  int // gemmMinFlopsPerThread
	serialAPI bool
}

// gemmImpls lists the pure-Go kernel and, for each assembly path this CPU
// has (AVX2, AVX-512), the kernel with A packed and read in place, on 1 to
// 8 threads (more threads than this machine has cores: the split must be
// right for any count). The split threshold is 0 so that even small
// products use every thread.
func gemmImpls() []gemmImpl {
	impls := []gemmImpl{
		{name: "go/1", path: isaGo, threads: 1},
		{name: "go/2", path: isaGo, threads: 2},
		{name: "go/5", path: isaGo, threads: 5},
	}
	for _, p := range []isa{isaYMM, isaZMM} {
		if !p.supported() {
			continue
		}
		impls = append(impls,
			gemmImpl{name: p.String() + "-packA/1", path: p, packA: 1, threads: 1},
			gemmImpl{name: p.String() + "-strideA/1", path: p, packA: 2, threads: 1},
			gemmImpl{name: p.String() + "-packA/2", path: p, packA: 1, threads: 2},
			gemmImpl{name: p.String() + "-strideA/3", path: p, packA: 2, threads: 3},
			gemmImpl{name: p.String() + "-default/4", path: p, threads: 4},
			gemmImpl{name: p.String() + "-strideA/7", path: p, packA: 2, threads: 7},
			gemmImpl{name: p.String() + "-default/8", path: p, threads: 8},
			gemmImpl{name: p.String() + "-default/serial", path: p, threads: 8, serialAPI: true},
		)
	}
	return impls
}

// use switches the implementation for the duration of a test.
func (im gemmImpl) use(t testing.TB) { t.Cleanup(im.apply()) }

// apply switches the implementation and returns the function that
// switches back.
func (im gemmImpl) apply() (restore func()) {
	oldForce, oldMin := gemmPackAForce, gemmMinFlopsPerThread
	oldThreads := SetThreads(im.threads)
	oldPath, err := SetKernelPath(im.path.String())
	if err != nil {
		panic(err)
	}
	gemmPackAForce, gemmMinFlopsPerThread = im.packA, im.minFlops
	return func() {
		gemmPackAForce, gemmMinFlopsPerThread = oldForce, oldMin
		SetThreads(oldThreads)
		SetKernelPath(oldPath)
	}
}

// forEachImpl runs check once under each implementation (the problem's
// data and reference are computed once, outside).
func forEachImpl(impls []gemmImpl, check func(im gemmImpl)) {
	for _, im := range impls {
		restore := im.apply()
		check(im)
		restore()
	}
}

// randOperand returns a rows×cols operand with leading dimension cols+pad,
// values uniform in [-1, 1) (bf16-rounded when bf16), the padding NaN so
// that reading it shows up; and the same matrix as f32 absolute values.
func randOperand(rng *rand.Rand, rows, cols, pad int, bf16 bool) (op, abs Operand) {
	ld := cols + pad
	n := 0
	if rows > 0 {
		n = (rows-1)*ld + cols
	}
	f := make([]float32, n)
	h := make([]uint16, n)
	af := make([]float32, n)
	nan := float32(math.NaN())
	for i := range f {
		if i%ld >= cols {
			f[i], h[i], af[i] = nan, tensor.BF16FromF32(nan), nan
			continue
		}
		x := float32(rng.Float64()*2 - 1)
		if bf16 {
			h[i] = tensor.BF16FromF32(x)
			x = tensor.F32FromBF16(h[i])
		}
		f[i], af[i] = x, float32(math.Abs(float64(x)))
	}
	if bf16 {
		return BF16Operand(h, ld), F32Operand(af, ld)
	}
	return F32Operand(f, ld), F32Operand(af, ld)
}

// checkGemmCase runs tc with the current implementation and compares with
// GemmRef elementwise (see gemmProblem.check).
func checkGemmCase(t testing.TB, rng *rand.Rand, tc gemmCase, serial bool) {
	t.Helper()
	newGemmProblem(rng, tc).check(t, KernelPath()+": ", serial)
}

// gemmProblem is one product with its data, the reference result and the
// magnitude sums that bound its rounding error.
type gemmProblem struct {
	tc            gemmCase
	a, b          Operand
	c0, want, mag []float32
	ldc           int
}

func newGemmProblem(rng *rand.Rand, tc gemmCase) *gemmProblem {
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = ac, ar
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = bc, br
	}
	a, absA := randOperand(rng, ar, ac, tc.padA, tc.bf16A)
	b, absB := randOperand(rng, br, bc, tc.padB, tc.bf16B)
	ldc := tc.n + tc.padC
	clen := 0
	if tc.m > 0 {
		clen = (tc.m-1)*ldc + tc.n
	}
	c0 := make([]float32, clen)
	absC := make([]float32, clen)
	for i := range c0 {
		switch {
		case i%ldc >= tc.n:
			c0[i] = 7 // padding: must stay untouched
		case tc.beta == 0:
			c0[i] = float32(math.NaN()) // must be overwritten, not read
		default:
			c0[i] = float32(rng.Float64()*2 - 1)
			absC[i] = float32(math.Abs(float64(c0[i])))
		}
	}
	want := append([]float32(nil), c0...)
	GemmRef(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, b, tc.beta, want, ldc)
	mag := append([]float32(nil), absC...)
	abs := func(x float32) float32 { return float32(math.Abs(float64(x))) }
	GemmRef(tc.transA, tc.transB, tc.m, tc.n, tc.k, abs(tc.alpha), absA, absB, abs(tc.beta), mag, ldc)
	return &gemmProblem{tc: tc, a: a, b: b, c0: c0, want: want, mag: mag, ldc: ldc}
}

// check runs the product with the current implementation (named impl in
// messages) and compares with the reference elementwise. The bound is the classical one for a dot product in
// floating point (Higham, Accuracy and Stability, §3.1): the error of an
// n-term sum of products is at most γ_n·Σ|x_i·y_i|, γ_n ≈ n·u, u = 2^-24;
// alpha and beta add two more roundings. So the tolerance per element is
// (k+4)·u·(|alpha|·Σ_p|A_ip||B_pj| + |beta|·|C_ij|), the magnitude sum,
// computed with GemmRef on absolute values. Any wrong index, missing term or
// wrong scaling is O(1) of that sum and fails.
func (p *gemmProblem) check(t testing.TB, impl string, serial bool) {
	t.Helper()
	tc, a, b, c0, want, mag, ldc := p.tc, p.a, p.b, p.c0, p.want, p.mag, p.ldc
	got := append([]float32(nil), c0...)
	if serial {
		GemmSerial(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, b, tc.beta, got, ldc)
	} else {
		Gemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, b, tc.beta, got, ldc)
	}
	const u = 1.0 / (1 << 24)
	tol := float64(tc.k+4) * u
	bad := 0
	for i := range got {
		if i%ldc >= tc.n {
			if got[i] != 7 {
				t.Fatalf("%s%v: C padding element %d changed to %g", impl, tc, i, got[i])
			}
			continue
		}
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= tol*float64(mag[i])+1e-30) { // also catches NaN
			if bad++; bad <= 3 {
				t.Errorf("%s%v: C[%d,%d] = %g, want %g (|diff| %.3g > bound %.3g)", impl, tc, i/ldc, i%ldc, got[i], want[i], d, tol*float64(mag[i]))
			}
		}
	}
	if bad > 3 {
		t.Fatalf("%s%v: %d elements wrong", impl, tc, bad)
	}
}

// gemmShapes cover edge tiles (sizes not multiples of the tiles, 6×16,
// 8×32 and 16×16), full tiles of each kernel, several k blocks (k > 256,
// with an uneven split), several row blocks (m > 144 and > 288) and column
// blocks (n > 2048), products 16 or fewer columns wide (the narrow AVX-512
// kernel) and vectors.
var gemmShapes = [][3]int{ // m, n, k
	{1, 1, 1}, {7, 17, 5}, {17, 7, 63}, {63, 65, 17}, {65, 63, 100},
	{100, 1, 65}, {1, 100, 7}, {6, 16, 256}, {12, 32, 257}, {150, 40, 300},
	{13, 2100, 3}, {31, 16, 16}, {64, 48, 1}, {14, 32, 40}, {28, 64, 513},
	{160, 15, 33}, {32, 16, 70}, {170, 33, 20}, {8, 32, 9}, {300, 70, 30},
}

func TestGemmMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	impls := gemmImpls()
	for _, s := range gemmShapes {
		for tr := 0; tr < 4; tr++ {
			tc := gemmCase{transA: tr&1 != 0, transB: tr&2 != 0, m: s[0], n: s[1], k: s[2], alpha: 1, beta: 0}
			p := newGemmProblem(rng, tc)
			forEachImpl(impls, func(im gemmImpl) { p.check(t, im.name+": ", im.serialAPI) })
		}
	}
}

// TestGemmVariants crosses alpha/beta, leading dimensions and bf16 storage
// with every transpose on shapes with edges in every direction.
func TestGemmVariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	type ab struct{ alpha, beta float32 }
	scalings := []ab{{1, 0}, {-0.5, 0}, {1, 1}, {2, -1.5}, {0, 0.5}}
	shapes := [][3]int{{17, 33, 19}, {65, 7, 300}, {7, 100, 63}, {29, 50, 40}}
	impls := gemmImpls()
	for _, s := range shapes {
		for tr := 0; tr < 4; tr++ {
			for v, sc := range scalings {
				tc := gemmCase{
					transA: tr&1 != 0, transB: tr&2 != 0,
					m: s[0], n: s[1], k: s[2],
					padA: v % 3 * 5, padB: (v + 1) % 3 * 3, padC: v % 2 * 4,
					bf16A: v%2 == 1, bf16B: v >= 3,
					alpha: sc.alpha, beta: sc.beta,
				}
				p := newGemmProblem(rng, tc)
				forEachImpl(impls, func(im gemmImpl) { p.check(t, im.name+": ", im.serialAPI) })
			}
		}
	}
}

func TestGemmZeroSizes(t *testing.T) {
	c := []float32{1, 2, 3, float32(math.NaN())}
	before := ReadCounters()
	// k = 0: C = beta·C, and with beta = 0 the NaN is overwritten.
	Sgemm(false, false, 2, 2, 0, 1, nil, 0, nil, 2, 2, c, 2)
	if c[0] != 2 || c[1] != 4 || c[2] != 6 || !math.IsNaN(float64(c[3])) {
		t.Errorf("k=0 beta=2: C = %v", c)
	}
	Sgemm(true, true, 2, 2, 0, 1, nil, 0, nil, 2, 0, c, 2)
	for i, x := range c {
		if x != 0 {
			t.Errorf("k=0 beta=0: C[%d] = %g, want 0", i, x)
		}
	}
	// m = 0 or n = 0: nothing to do, nothing counted.
	Sgemm(false, false, 0, 5, 3, 1, nil, 3, make([]float32, 15), 5, 0, nil, 5)
	if d := ReadCounters().Sub(before); d.Calls != 2 || d.Flops != 0 {
		t.Errorf("counters after k=0 and m=0 calls: %+v, want 2 calls, 0 flops", d)
	}
}

// TestGemmSerialConcurrent runs GemmSerial from several goroutines at once,
// as attention does per head: the packing buffers must not be shared.
func TestGemmSerialConcurrent(t *testing.T) {
	const m, n, k, g = 37, 41, 29, 8
	rng := rand.New(rand.NewPCG(5, 6))
	a, _ := randOperand(rng, m, k, 0, false)
	b, _ := randOperand(rng, k, n, 0, false)
	want := make([]float32, m*n)
	GemmRef(false, false, m, n, k, 1, a, b, 0, want, n)
	got := make([][]float32, g)
	var wg sync.WaitGroup
	for i := range got {
		got[i] = make([]float32, m*n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 20; r++ {
				GemmSerial(false, false, m, n, k, 1, a, b, 0, got[i], n)
			}
		}()
	}
	wg.Wait()
	for i := range got {
		for j := range want {
			if d := math.Abs(float64(got[i][j] - want[j])); d > 1e-5 {
				t.Fatalf("goroutine %d: C[%d] = %g, want %g", i, j, got[i][j], want[j])
			}
		}
	}
}

func TestGemmGrid(t *testing.T) {
	for _, tc := range []struct {
		kern             *gemmKernel
		m, n, k, threads int
		tm, tn           int
	}{
		{&kernelYMM, 2048, 2048, 2048, 2, 2, 1},
		{&kernelYMM, 1576, 16, 192, 2, 1, 1},  // rank-16 product: too small to gain
		{&kernelYMM, 1576, 16, 192, 8, 1, 1},  // at any thread count
		{&kernelYMM, 6, 2048, 2048, 2, 1, 2},  // one row panel: split columns
		{&kernelYMM, 4, 4, 4, 2, 1, 1},        // too small to split
		{&kernelYMM, 4, 4, 4, 8, 1, 1},        // too small to split
		{&kernelYMM, 1576, 192, 192, 1, 1, 1}, // one thread
		{&kernelYMM, 600, 600, 600, 4, 4, 1},  // 25×38 tiles each, as 2×2: rows preferred
		{&kernelYMM, 600, 600, 600, 3, 3, 1},
		{&kernelYMM, 60, 600, 600, 4, 2, 2},     // 5×19 tiles each
		{&kernelYMM, 2048, 2048, 2048, 8, 2, 4}, // 171×32 tiles each, 8×1 would be 43×128
		{&kernelYMM, 2048, 2048, 2048, 7, 7, 1},
		{&kernelYMM, 12, 2048, 2048, 5, 1, 5},   // 2 row panels: columns
		{&kernelYMM, 18, 64, 1 << 16, 7, 3, 2},  // 3×4 tiles: 7 does not fit, 6 does
		{&kernelZMM, 2048, 2048, 2048, 2, 2, 1}, // the AVX-512 tiles
		{&kernelZMM, 14, 2048, 2048, 4, 2, 2},   // 2 row panels of 8
		{&kernelZMM, 8, 2048, 2048, 3, 1, 3},    // one row panel: columns
		{&kernelZMMN, 1576, 16, 2048, 8, 8, 1},
		{&kernelZMMN, 16, 16, 1 << 20, 3, 1, 1}, // one tile: nothing to split
	} {
		tm, tn := gemmGrid(tc.kern, tc.m, tc.n, tc.k, tc.threads)
		if tm != tc.tm || tn != tc.tn {
			t.Errorf("%s: gemmGrid(%d, %d, %d, %d) = %d×%d, want %d×%d", tc.kern.name, tc.m, tc.n, tc.k, tc.threads, tm, tn, tc.tm, tc.tn)
		}
	}
}

// TestGemmNoAllocs checks that steady-state calls reuse the packing buffers.
func TestGemmNoAllocs(t *testing.T) {
	const m, n, k = 100, 100, 300
	a := make([]float32, m*k)
	b := make([]float32, k*n)
	c := make([]float32, m*n)
	Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n) // warm the buffers
	allocs := testing.AllocsPerRun(10, func() {
		GemmSerial(false, true, m, n, k, 1, F32Operand(a, k), F32Operand(b, k), 0, c, n)
	})
	if allocs > 0 {
		t.Errorf("GemmSerial allocates %v times per call", allocs)
	}
}

func TestMeasurePeakGFLOPS(t *testing.T) {
	p := MeasurePeakGFLOPS(10 * time.Millisecond)
	// Any CPU of the last two decades does 0.5-1000 GFLOP/s per core.
	if !(p > 0.5 && p < 1000) {
		t.Errorf("MeasurePeakGFLOPS = %g GFLOP/s, outside any plausible range", p)
	}
	if !haveYMM {
		return
	}
	// Eight-wide FMA must beat scalar Go by far (two 8-lane FMAs per cycle
	// against at most a few scalar operations), even on a busy machine.
	y := measurePeak(10*time.Millisecond, isaYMM)
	if g := measurePeak(10*time.Millisecond, isaGo); !(g > 0.1 && g < y/2) {
		t.Errorf("scalar Go peak %g GFLOP/s, want in (0.1, %g): the FMA loop is not doing its work", g, y/2)
	}
	if !haveZMM {
		return
	}
	// 16 lanes against 8: at least as fast even where the core splits a
	// zmm FMA in two (Zen4), up to twice as fast. Loose bounds: the rates
	// are measured at different moments on a possibly busy machine.
	if z := measurePeak(10*time.Millisecond, isaZMM); !(z > 0.5*y && z < 4*y) {
		t.Errorf("zmm peak %g GFLOP/s against ymm %g: want 0.5x to 4x", z, y)
	}
}

// Sgemm with op(B) = Bᵀ, as a Linear layer computes Y = X·Wᵀ with W stored
// out×in.
func ExampleSgemm() {
	x := []float32{ // 2×3
		1, 2, 3,
		4, 5, 6,
	}
	w := []float32{ // 2×3: two outputs, three inputs
		1, 0, -1,
		0.5, 0.5, 0.5,
	}
	y := make([]float32, 2*2)
	Sgemm(false, true, 2, 2, 3, 1, x, 3, w, 3, 0, y, 2)
	fmt.Println(y)
	// Output: [-2 3 -2 7.5]
}
