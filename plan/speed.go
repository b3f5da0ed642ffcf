package plan

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/golora/golora/internal/cpuclock"
	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Speed is this machine's measured time of each kernel call a step runs
// (nn.Op: a GEMM of given shape, transposes, strides and weight dtype, a
// row or elementwise kernel of given size), with the kernels' thread count
// at calibration. A step's predicted time is the sum over its ops of count
// × time: every module declares its ops in its Plan (nn.Cost.Ops) beside
// its bytes and FLOPs, so the sum has no term of its own to forget.
type Speed struct {
	Threads int
	ns      map[nn.Op]float64 // nanoseconds per call (see callTime)
	scaled  map[nn.Op]bool    // measured on a smaller op and scaled (calibrationCap)
}

// opKey is an op at a thread count: the process-wide cache's key.
type opKey struct {
	op      nn.Op
	threads int
}

type opTime struct {
	ns     float64
	scaled bool
}

var (
	speedMu    sync.Mutex
	speedCache = map[opKey]opTime{}
)

// Calibrate times every distinct op of e not timed before in this process
// at the kernels' current thread count (results are cached), each on
// buffers of its own sizes, for about calibrationTime or three runs.
func Calibrate(e Estimate) Speed {
	threads := kernels.Threads()
	s := Speed{Threads: threads, ns: map[nn.Op]float64{}, scaled: map[nn.Op]bool{}}
	ops := make([]nn.Op, 0, len(e.Ops))
	for op := range e.Ops {
		ops = append(ops, op)
	}
	// A fixed order, so that a calibration's runs do not depend on map order.
	sort.Slice(ops, func(i, j int) bool { return ops[i].String() < ops[j].String() })
	speedMu.Lock()
	defer speedMu.Unlock()
	var ar arena
	for _, op := range ops {
		k := opKey{op, threads}
		t, ok := speedCache[k]
		if !ok {
			t = timeOp(op, &ar)
			speedCache[k] = t
		}
		s.ns[op], s.scaled[op] = t.ns, t.scaled
	}
	return s
}

// StepMS predicts the time of one training step in milliseconds: the sum
// over e's ops of count × measured time per call. Ops that were not
// calibrated (a Speed from another Estimate) panic: a missing term is a
// bug, not a zero.
func (s Speed) StepMS(e Estimate) float64 {
	var ns float64
	for op, n := range e.Ops {
		t, ok := s.ns[op]
		if !ok {
			panic(fmt.Sprintf("plan: op %v was not calibrated", op))
		}
		ns += float64(n) * t
	}
	return ns / 1e6
}

// ByKernel is StepMS split by kind of kernel, in milliseconds.
func (s Speed) ByKernel(e Estimate) map[nn.Kernel]float64 {
	m := map[nn.Kernel]float64{}
	for op, n := range e.Ops {
		m[op.Kernel] += float64(n) * s.ns[op] / 1e6
	}
	return m
}

// String summarises the speeds: the effective GFLOP/s of the GEMMs and the
// number of ops timed.
func (s Speed) String() string {
	var parts []string
	for op, ns := range s.ns {
		if f := op.FLOPs(); f > 0 && ns > 0 {
			parts = append(parts, fmt.Sprintf("%v %.1f GFLOP/s", op, float64(f)/ns))
		}
	}
	slices.Sort(parts)
	return fmt.Sprintf("%d threads, %d ops timed: %s", s.Threads, len(s.ns), strings.Join(parts, "; "))
}

// calibrationTime is how long each op is run for at least.
const calibrationTime = 20 * time.Millisecond

// calibrationCap bounds the bytes of the buffers one op is timed on, so
// that planning a large batch (or a long sequence) does not need the
// memory of its step; calibrationBudget lowers it to a quarter of the
// memory available.
const calibrationCap = 256 << 20

func calibrationBudget() int64 {
	if avail, _, err := sizecheck.Available(); err == nil && avail/4 < calibrationCap {
		return max(avail/4, 1)
	}
	return calibrationCap
}

// timeOp measures op's time per call (callTime). An op whose buffers exceed
// calibrationBudget is measured smaller (reduce: fewer rows, products or
// values, then shorter ones) and its time scaled up by the work ratio: an
// approximation, marked as scaled, since such ops run at about the same
// rate per unit of work.
func timeOp(op nn.Op, ar *arena) opTime {
	limit := calibrationBudget()
	small, scale := reduce(op, limit)
	// Copies of the buffers, run in turn, so that each call finds its
	// operands out of cache, as in a step, where an op's inputs were
	// written long before (the activations a backward reads) or read once
	// per step (the weights): up to coldBytes of them, within the budget.
	b := max(opBytes(small), 1)
	copies := int(min(max(coldBytes/b, 1), max(limit/b, 1), maxCopies))
	ar.reset(sizecheck.Mul(int64(copies), b))
	runs := make([]func(), copies)
	for i := range runs {
		runs[i] = runner(small, uint64(i), ar)
	}
	return opTime{ns: callTime(runs) * scale, scaled: small != op}
}

// coldBytes is how many bytes of buffer copies an op cycles through while
// timed (more than this machine's caches hold), and maxCopies how many
// copies at most.
const (
	// rotaryPositions bounds the positions of a timed rotary op (the cos
	// and sin tables; the time is per row either way).
	rotaryPositions = 512
	coldBytes       = 64 << 20
	maxCopies       = 32
)

// reduce halves op's sizes (halve) until its buffers fit in limit bytes and
// returns the op to measure and the factor to scale its time by: the ratio
// of the two ops' work (workOf). The scaling is linear, an approximation:
// a GEMM shrunk in one dimension, or a row kernel over fewer or shorter
// rows, runs at about the same rate per unit of work, not exactly so.
func reduce(op nn.Op, limit int64) (nn.Op, float64) {
	small := op
	for opBytes(small) > limit {
		smaller, ok := halve(small)
		if !ok {
			break
		}
		small = smaller
	}
	return small, workOf(op) / workOf(small)
}

// workOf is the product of op's sizes (Batch, M, N, K; the unused ones
// count as 1): what its time is taken to be proportional to.
func workOf(op nn.Op) float64 {
	w := 1.0
	for _, d := range []int{op.Batch, op.M, op.N, op.K} {
		w *= float64(max(d, 1))
	}
	return w
}

// rowKernel reports whether k is a row kernel over op.M rows of op.N.
func rowKernel(k nn.Kernel) bool {
	switch k {
	case nn.OpAddBias, nn.OpBiasBackward, nn.OpLayerNorm, nn.OpLayerNormBackward, nn.OpSoftmax, nn.OpSoftmaxBackward, nn.OpCrossEntropy, nn.OpCrossEntropyBackward, nn.OpRMSNorm, nn.OpRMSNormBackward, nn.OpRotary:
		return true
	}
	return false
}

// halve returns op with one size halved, or false when none can be, so
// that no op kind's buffers stay above the budget (a single T×T product of
// a long context, a row of a large vocabulary): a GEMM's rows M (the
// tokens; a frozen weight keeps its shape while it can), then the larger
// of N and K; a batched GEMM's products, then its largest size (a shrunk
// product keeps its shape's balance, and its strided operands' rows shrink
// whichever size they run along); a row kernel's rows, then its row length
// (not a rotary op's, whose rows are heads of K); an elementwise kernel's
// values.
func halve(op nn.Op) (nn.Op, bool) {
	h := func(p *int) bool {
		if *p <= 1 {
			return false
		}
		*p = (*p + 1) / 2
		return true
	}
	// largest halves the largest of dims that is above one.
	largest := func(dims ...*int) bool {
		var p *int
		for _, d := range dims {
			if *d > 1 && (p == nil || *d > *p) {
				p = d
			}
		}
		return p != nil && h(p)
	}
	switch {
	case op.Kernel == nn.OpGemm:
		return op, h(&op.M) || largest(&op.N, &op.K)
	case op.Kernel == nn.OpGemmBatch:
		return op, h(&op.Batch) || largest(&op.M, &op.N, &op.K)
	case rowKernel(op.Kernel):
		return op, h(&op.M) || (op.Kernel != nn.OpRotary && h(&op.N))
	}
	return op, h(&op.N)
}

// opBytes is the bytes of the buffers runner allocates for op (saturating).
func opBytes(op nn.Op) int64 {
	mul, add := sizecheck.Mul, sizecheck.Add
	switch op.Kernel {
	case nn.OpGemm, nn.OpGemmBatch:
		a, b, c := gemmLayout(op)
		return mul(4, add(a.len(op), b.len(op), c.len(op)))
	case nn.OpAddBias, nn.OpBiasBackward, nn.OpSoftmax, nn.OpCrossEntropy:
		return mul(8, int64(op.M), int64(op.N))
	case nn.OpRMSNorm, nn.OpRMSNormBackward: // x, y, dx; w, dw; rstd
		return mul(4, add(mul(3, int64(op.M), int64(op.N)), mul(2, int64(op.N)), int64(op.M)))
	case nn.OpRotary: // x; cos and sin of up to rotaryPositions positions
		return mul(4, add(mul(int64(op.M), int64(op.N)), int64(rotaryPositions*op.K)))
	case nn.OpLayerNorm, nn.OpLayerNormBackward: // x, y, dx; w, b, dw, db; mean, rstd
		return mul(4, add(mul(3, int64(op.M), int64(op.N)), mul(4, int64(op.N)), mul(2, int64(op.M))))
	case nn.OpSoftmaxBackward, nn.OpCrossEntropyBackward:
		return mul(12, int64(op.M), int64(op.N))
	case nn.OpAdamW:
		return mul(16, int64(op.N))
	}
	return mul(12, int64(op.N))
}

// layout is how one GEMM operand is stored: rows × width values with row
// stride ld; a batch's products sit side by side while they fit in ld (the
// heads of [B, T, heads·d]), then one below the other.
type layout struct{ rows, width, ld int }

func (l layout) perRow() int { return max(l.ld/l.width, 1) }

// offset is where product i's operand starts.
func (l layout) offset(i int) int {
	g := l.perRow()
	return (i/g)*l.rows*l.ld + (i%g)*l.width
}

// len is the values the batch's operands span.
func (l layout) len(op nn.Op) int64 {
	n := 1
	if op.Kernel == nn.OpGemmBatch {
		n = op.Batch
	}
	g := l.perRow()
	return sizecheck.Mul(int64((n+g-1)/g), int64(l.rows), int64(l.ld))
}

func gemmLayout(op nn.Op) (a, b, c layout) {
	stored := func(trans bool, r, w, ld int) layout {
		if trans {
			r, w = w, r
		}
		if ld == 0 {
			ld = w
		}
		return layout{rows: r, width: w, ld: ld}
	}
	a = stored(op.TransA, op.M, op.K, op.LdA)
	b = stored(op.TransB, op.K, op.N, op.LdB)
	c = stored(false, op.M, op.N, op.LdC)
	return a, b, c
}

// runner takes op's buffers from ar (random values) and returns one call.
func runner(op nn.Op, seed uint64, ar *arena) func() {
	rng := rand.New(rand.NewPCG(uint64(op.Kernel)+1+seed<<8, uint64(op.M*31+op.N*7+op.K)))
	buf := ar.take
	zeros := func(n int) []float32 {
		x := ar.take(n)
		clear(x)
		return x
	}
	m, n := op.M, op.N
	switch op.Kernel {
	case nn.OpGemm, nn.OpGemmBatch:
		la, lb, lc := gemmLayout(op)
		a, c := buf(int(la.len(op))), buf(int(lc.len(op)))
		bv := buf(int(lb.len(op)))
		// A weight in another dtype is stored densely, as nn.Linear's.
		operand := func(v []float32, l layout, dt tensor.DType) kernels.Operand {
			if dt != 0 && dt != tensor.F32 && op.Kernel == nn.OpGemm && l.ld == l.width {
				return kernels.TensorOperand(tensor.FromF32(v, l.rows, l.width).Quantize(dt, op.DoubleQuant))
			}
			return kernels.F32Operand(v, l.ld)
		}
		b := operand(bv, lb, op.BType)
		if op.Kernel == nn.OpGemm {
			ao := operand(a, la, op.AType)
			return func() {
				kernels.Gemm(op.TransA, op.TransB, op.M, op.N, op.K, 1, ao, b, 0, c, lc.ld)
			}
		}
		return func() {
			kernels.ParallelFor(op.Batch, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					bi := b
					bi.F32 = bv[lb.offset(i):]
					kernels.GemmSerial(op.TransA, op.TransB, op.M, op.N, op.K, 1, kernels.F32Operand(a[la.offset(i):], la.ld), bi, 0, c[lc.offset(i):], lc.ld)
				}
			})
		}
	case nn.OpAddBias:
		y, b := buf(m*n), buf(n)
		return func() { kernels.AddBias(y, b, m, n) }
	case nn.OpBiasBackward:
		db, dy := buf(n), buf(m*n)
		return func() { kernels.BiasBackward(db, dy, m, n) }
	case nn.OpAdd:
		y, a, b := buf(n), buf(n), buf(n)
		return func() { kernels.Add(y, a, b) }
	case nn.OpAddTo:
		y, x := buf(n), buf(n)
		return func() { kernels.AddTo(y, x) }
	case nn.OpCopy:
		y, x := buf(n), buf(n)
		return func() { copy(y, x) }
	case nn.OpClear:
		y := buf(n)
		return func() { clear(y) }
	case nn.OpDropout:
		y, x := buf(n), buf(n)
		return func() { kernels.DropoutForward(y, x, 0.1, 7, 0) }
	case nn.OpLayerNorm, nn.OpLayerNormBackward:
		x, y, dx := buf(m*n), buf(m*n), buf(m*n)
		w, b, dw, db, mean, rstd := buf(n), buf(n), buf(n), buf(n), buf(m), buf(m)
		kernels.LayerNormForward(y, mean, rstd, x, w, b, m, n, 1e-6)
		if op.Kernel == nn.OpLayerNorm {
			return func() { kernels.LayerNormForward(y, mean, rstd, x, w, b, m, n, 1e-6) }
		}
		return func() { kernels.LayerNormBackward(dx, dw, db, y, x, w, mean, rstd, m, n) }
	case nn.OpSoftmax:
		x, y := buf(m*n), buf(m*n)
		return func() { kernels.SoftmaxForward(y, x, m, n, 0.125, op.Causal) }
	case nn.OpSoftmaxBackward:
		dx, y, dy := buf(m*n), buf(m*n), buf(m*n)
		kernels.SoftmaxForward(y, y, m, n, 1, false)
		return func() { kernels.SoftmaxBackward(dx, y, dy, m, n, 0.125) }
	case nn.OpGELU, nn.OpGELUTanh, nn.OpReLU:
		y, x := buf(n), buf(n)
		f := map[nn.Kernel]func(y, x []float32){nn.OpGELU: kernels.GELUForward, nn.OpGELUTanh: kernels.GELUTanhForward, nn.OpReLU: nn.ReLU}[op.Kernel]
		return func() { f(y, x) }
	case nn.OpGELUBackward, nn.OpGELUTanhBackward, nn.OpReLUBackward:
		dx, x, dy := buf(n), buf(n), buf(n)
		f := map[nn.Kernel]func(dx, x, dy []float32){nn.OpGELUBackward: kernels.GELUBackward, nn.OpGELUTanhBackward: kernels.GELUTanhBackward, nn.OpReLUBackward: nn.ReLUBackward}[op.Kernel]
		return func() { f(dx, x, dy) }
	case nn.OpCrossEntropy, nn.OpCrossEntropyBackward:
		logits, probs := buf(m*n), buf(m*n)
		targets := make([]int32, m)
		for i := range targets {
			targets[i] = int32(rng.IntN(n))
		}
		kernels.CrossEntropyForward(probs, logits, targets, m, n)
		if op.Kernel == nn.OpCrossEntropy {
			return func() { kernels.CrossEntropyForward(probs, logits, targets, m, n) }
		}
		return func() { kernels.CrossEntropyBackward(logits, probs, targets, m, n, 1/float32(m)) }
	case nn.OpSiLU, nn.OpTanh, nn.OpSwiGLU:
		y, x, u := buf(n), buf(n), buf(n)
		switch op.Kernel {
		case nn.OpSiLU:
			return func() { kernels.SiLUForward(y, x) }
		case nn.OpTanh:
			return func() { nn.Tanh(y, x) }
		}
		return func() { kernels.SwiGLUForward(y, x, u) }
	case nn.OpSiLUBackward, nn.OpTanhBackward:
		dx, x, dy := buf(n), buf(n), buf(n)
		if op.Kernel == nn.OpSiLUBackward {
			return func() { kernels.SiLUBackward(dx, x, dy) }
		}
		return func() { nn.TanhBackward(dx, x, dy) }
	case nn.OpSwiGLUBackward:
		dg, du, g, u, dy := buf(n), buf(n), buf(n), buf(n), buf(n)
		return func() { kernels.SwiGLUBackward(dg, du, g, u, dy) }
	case nn.OpRMSNorm, nn.OpRMSNormBackward:
		x, y, dx := buf(m*n), buf(m*n), buf(m*n)
		w, dw, rstd := buf(n), buf(n), buf(m)
		kernels.RMSNormForward(y, rstd, x, w, m, n, 1e-6)
		if op.Kernel == nn.OpRMSNorm {
			return func() { kernels.RMSNormForward(y, rstd, x, w, m, n, 1e-6) }
		}
		return func() { kernels.RMSNormBackward(dx, dw, y, x, w, rstd, m, n) }
	case nn.OpRotary:
		d := max(op.K, 2) &^ 1
		t := min(m, rotaryPositions)
		x, cos, sin := buf(m*n), buf(t*d/2), buf(t*d/2)
		return func() { kernels.RotaryForward(x, m, t, 0, n/d, d, n, cos, sin, false) }
	case nn.OpAdamW:
		p, g, mo, v := buf(n), buf(n), zeros(n), zeros(n)
		hp := kernels.AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
		return func() { kernels.AdamWStep(p, g, mo, v, hp, 1) }
	}
	panic(fmt.Sprintf("plan: no calibration for kernel %v", op.Kernel))
}

// callTime runs each of fns once to warm up, then cycles through them in
// batches of calls that take about a millisecond, until calibrationTime
// and eight batches have passed, and returns the lower quartile of the
// batches' nanoseconds per call. On one thread it counts the thread's CPU
// time, which time lost to other processes does not enter; on more it
// counts wall time, where the lower quartile leaves out the batches that
// were interrupted. Either way the plan is the step time of an otherwise
// idle machine, even when calibrated on a busy one (bench train prints CPU
// time beside wall time for that case).
func callTime(fns []func()) float64 {
	clock := func() time.Duration { return time.Duration(time.Now().UnixNano()) }
	if kernels.Threads() == 1 {
		if _, ok := cpuclock.Thread(); ok {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			clock = func() time.Duration { t, _ := cpuclock.Thread(); return t }
		}
	}
	t0 := clock()
	for _, fn := range fns {
		fn()
	}
	one := max((clock()-t0)/time.Duration(len(fns)), time.Nanosecond)
	per := max(int(time.Millisecond/one), 1)
	var ns []float64
	var calls int
	start := time.Now()
	for len(ns) < 8 || (time.Since(start) < calibrationTime && len(ns) < 1000) {
		t := clock()
		for i := 0; i < per; i++ {
			fns[(calls+i)%len(fns)]()
		}
		ns = append(ns, float64((clock()-t).Nanoseconds())/float64(per))
		calls += per
	}
	slices.Sort(ns)
	return ns[len(ns)/4]
}

// arena hands out the buffers of the ops a Calibrate times from one
// allocation, kept across ops, so that timing an op costs no page faults
// beyond the first; each op's part is refilled with random values first
// (what the previous op left there may be anything, denormals included).
type arena struct {
	buf  []float32
	off  int
	tile [4099]float32 // random values, tiled: drawing each would cost more than timing
}

// reset readies the arena for an op whose buffers take bytes.
func (a *arena) reset(bytes int64) {
	n := int(bytes / 4)
	if a.buf == nil {
		rng := rand.New(rand.NewPCG(5, 6))
		for i := range a.tile {
			a.tile[i] = rng.Float32() - 0.5
		}
	}
	if len(a.buf) < n {
		a.buf = make([]float32, n)
	}
	for i := 0; i < n; i += len(a.tile) {
		copy(a.buf[i:n], a.tile[:])
	}
	a.off = 0
}

// take returns the next n values (beyond what reset readied only when
// an op asks more than opBytes counted: allocated apart).
func (a *arena) take(n int) []float32 {
	if a.off+n > len(a.buf) {
		x := make([]float32, n)
		for i := 0; i < n; i += len(a.tile) {
			copy(x[i:], a.tile[:])
		}
		return x
	}
	x := a.buf[a.off : a.off+n : a.off+n]
	a.off += n
	return x
}
