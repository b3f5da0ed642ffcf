package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// gemmMinFlopsPerThread keeps small products on one goroutine: each worker
// gets at least 2^23 flops (~80 µs of kernel time). A goroutine started on
// another core often runs only 100-200 µs later here (the idle vCPU must be
// woken), and on a shared machine a helper preempted in the middle of its
// chunk stalls the whole product; below ~2^24 flops a second thread gained
// nothing when idle (rank-16 products: 0.97-0.99x) and lost up to half under
// load. Tests lower it to split even tiny products.
var gemmMinFlopsPerThread = 1 << 23

// run computes the product on up to nthreads workers (the caller is one).
//
// A newly started goroutine may begin running only 50-200 µs later on a
// shared or virtualised machine, as long as a whole rank-16 product takes.
// So when the packed op(B) is small, workers take chunks of rows from a
// shared counter (rowsDynamic): a late worker simply gets fewer chunks (or
// none), so two threads do not lose to one. Large products, where that
// latency is noise, are split statically into a grid of blocks (parallel),
// which needs no per-worker copy of the whole of B.
func (g *gemmArgs) run(nthreads int) {
	tm, tn := gemmGrid(g.kern, g.m, g.n, g.k, nthreads)
	t := tm * tn
	switch {
	case t == 1:
		w := getWork()
		g.block(w, 0, g.m, 0, g.n)
		putWork(w)
	case g.n <= gemmNC && g.k*roundUp(g.n, g.kern.nr) <= gemmDynamicB && ceilDiv(g.m, g.kern.mr) >= 4*t:
		g.rowsDynamic(*g, t)
	default:
		g.parallel(*g, tm, tn)
	}
}

// gemmDynamicB bounds the packed op(B) (floats) that each worker of
// rowsDynamic keeps whole: 1 MiB, one core's L2. A larger B streams from L3
// for every chunk of rows, and the static grid, which keeps a kc×nc block
// of B in L2 for a whole row block, is faster: on two idle Zen5 cores with
// the AVX-512 kernel, 1024³ ran at 377 GFLOP/s on the grid against 319 in
// row chunks (4 MiB of B), 1576×768×768 at 401 against 372; the AVX2
// kernel gained 2-9 %. The products of a ViT-Tiny step keep B under 1 MiB.
const gemmDynamicB = 1 << 18

// rowsDynamic runs t workers over chunks of rows, about 8 per worker for
// balance. The caller waits for chunks, not for workers: a helper that
// starts after all chunks are taken exits at once and nobody waits for it.
// It takes the arguments by value, as parallel does.
func (*gemmArgs) rowsDynamic(g gemmArgs, t int) {
	kk := g.kern
	rows := min(kk.mc, max(4*kk.mr, roundUp(ceilDiv(g.m, 8*t), kk.mr)))
	d := &rowChunks{n: int64(ceilDiv(g.m, rows)), rows: rows, finished: make(chan struct{})}
	for range t - 1 {
		go g.rowWorker(d)
	}
	if g.rowWorker(d) {
		return
	}
	// A helper is finishing its last chunk, a few microseconds of work
	// unless it was preempted. Waking a goroutine parked on a channel takes
	// ~100 µs here, so spin on the counter for up to 50 µs first.
	t0 := time.Now()
	for spin := 0; d.done.Load() < d.n; spin++ {
		if spin%64 == 63 && time.Since(t0) > 50*time.Microsecond {
			<-d.finished
			return
		}
		runtime.Gosched()
	}
}

// rowChunks is the shared state of rowsDynamic: chunks are claimed with
// next and counted with done; whoever completes the last one closes
// finished.
type rowChunks struct {
	next, done atomic.Int64
	n          int64
	rows       int
	finished   chan struct{}
}

// rowWorker computes chunks of rows until none is left and reports whether
// it completed the last one. It packs all of op(B), k block after k block,
// once, when it gets its first chunk.
func (g *gemmArgs) rowWorker(d *rowChunks) (last bool) {
	var w *gemmWork
	var bp []float32
	kc := blockK(g.k, g.kern.kc)
	nr := roundUp(g.n, g.kern.nr)
	for {
		ch := d.next.Add(1) - 1
		if ch >= d.n {
			break
		}
		if w == nil {
			w = getWork()
			bp = w.bBuf(g.k * nr)
			for pc := 0; pc < g.k; pc += kc {
				kb := min(kc, g.k-pc)
				packB(bp[pc*nr:(pc+kb)*nr], g.b, g.transB, pc, kb, 0, g.n, g.kern.nr)
			}
		}
		i0 := int(ch) * d.rows
		mb := min(d.rows, g.m-i0)
		for pc := 0; pc < g.k; pc += kc {
			kb := min(kc, g.k-pc)
			beta := g.beta
			if pc > 0 {
				beta = 1
			}
			g.macro(w, bp[pc*nr:(pc+kb)*nr], i0, mb, 0, g.n, pc, kb, beta)
		}
		if d.done.Add(1) == d.n {
			close(d.finished)
			last = true
		}
	}
	if w != nil {
		putWork(w)
	}
	return last
}

// parallel computes a tm×tn grid of blocks of C (see gemmGrid), one worker
// each; each block is an independent blocked GEMM with its own packing
// buffers, so nothing is shared but op(A) and op(B) are packed once per
// block row or column. It takes the arguments by value so that only the
// parallel paths, not the serial one, move them to the heap.
func (*gemmArgs) parallel(g gemmArgs, tm, tn int) {
	mr, nr := g.kern.mr, g.kern.nr
	mt, nt := ceilDiv(g.m, mr), ceilDiv(g.n, nr)
	rows := func(r int) int { return min(g.m, mr*(mt*r/tm)) }
	cols := func(s int) int { return min(g.n, nr*(nt*s/tn)) }
	var wg sync.WaitGroup
	for t := tm*tn - 1; t >= 0; t-- {
		r, s := t/tn, t%tn
		i0, i1, j0, j1 := rows(r), rows(r+1), cols(s), cols(s+1)
		if t == 0 { // the caller is worker 0
			w := getWork()
			g.block(w, i0, i1, j0, j1)
			putWork(w)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := getWork()
			g.block(w, i0, i1, j0, j1)
			putWork(w)
		}()
	}
	wg.Wait()
}

// gemmGrid picks tm×tn <= nthreads workers so that each has enough work
// and the largest block, in micro-tiles of kernel kk, is as small as
// possible; among equal grids it prefers splitting rows, which repacks only
// B. Any thread count works: when nthreads has no factorisation that fits
// the tiles (e.g. 7 threads on 3 row panels), it uses fewer.
func gemmGrid(kk *gemmKernel, m, n, k, nthreads int) (tm, tn int) {
	flops := 2 * float64(m) * float64(n) * float64(k)
	t := nthreads
	if gemmMinFlopsPerThread > 0 {
		t = min(t, int(flops/float64(gemmMinFlopsPerThread)))
	}
	mt, nt := ceilDiv(m, kk.mr), ceilDiv(n, kk.nr)
	tm, tn = 1, 1
	best := mt * nt
	for ; t > 1; t-- {
		for r := t; r >= 1; r-- {
			s := t / r
			if r*s != t || r > mt || s > nt {
				continue
			}
			if load := ceilDiv(mt, r) * ceilDiv(nt, s); load < best {
				tm, tn, best = r, s, load
			}
		}
		if tm*tn > 1 {
			break
		}
	}
	return tm, tn
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// gemmWork holds one worker's packing buffers. They are kept in a free list
// for the life of the process (never handed back to the GC), so steady-state
// GEMM calls allocate nothing.
type gemmWork struct {
	a, b []float32
	tile [gemmTileMax]float32
}

var workFree struct {
	sync.Mutex
	list []*gemmWork
}

func getWork() *gemmWork {
	workFree.Lock()
	defer workFree.Unlock()
	if n := len(workFree.list); n > 0 {
		w := workFree.list[n-1]
		workFree.list = workFree.list[:n-1]
		return w
	}
	return new(gemmWork)
}

func putWork(w *gemmWork) {
	workFree.Lock()
	workFree.list = append(workFree.list, w)
	workFree.Unlock()
}

// aBuf and bBuf return n floats of the packing buffers, grown to the largest
// block seen (bounded by the blocking constants).
func (w *gemmWork) aBuf(n int) []float32 { return grow(&w.a, n) }
func (w *gemmWork) bBuf(n int) []float32 { return grow(&w.b, n) }

func grow(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = alignedFloats(n)
	}
	return (*buf)[:n]
}

// alignedFloats returns n floats starting on a 64-byte boundary, so that each
// 16-float row of a B panel is one cache line.
func alignedFloats(n int) []float32 {
	s := make([]float32, n+16)
	off := int(uintptr(unsafe.Pointer(&s[0]))&63) / 4
	if off != 0 {
		off = 16 - off
	}
	return s[off : off+n : off+n]
}
