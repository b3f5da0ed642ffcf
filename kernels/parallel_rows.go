package kernels

// Row kernels are cheap per element, so for small inputs the ~1-2 µs it costs
// to start and join a goroutine is more than the work itself (attention on
// one head, a 10-class loss, the LoRA A/B moments). These helpers run such
// inputs on the caller's goroutine and hand only large ones to ParallelFor.

// parallelGrain is the work, in element-operations, below which a kernel runs
// serially: about 10-30 µs of row-kernel time, ten times a goroutine hand-off.
const parallelGrain = 1 << 15

// maxChunks bounds how many partial results a reducing kernel keeps (see
// forChunks).
const maxChunks = 16

// parallelRows calls fn over [0, n) where each index costs about cost
// element-operations: serially when the total is under parallelGrain,
// otherwise split by ParallelFor.
func parallelRows(n, cost int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if n*cost < parallelGrain || Threads() < 2 {
		fn(0, n)
		return
	}
	ParallelFor(n, fn)
}

// numChunks is how many contiguous chunks forChunks splits n indices of the
// given cost into: enough to keep every worker busy on large inputs, one on
// small ones. It depends only on the sizes, never on Threads(), so a kernel
// that reduces per chunk and then adds the chunks in order gives bitwise the
// same result whatever the thread count.
func numChunks(n, cost int) int {
	c := n * cost / parallelGrain
	c = min(c, maxChunks, n)
	return max(c, 1)
}

// forChunks calls fn(c, lo, hi) for chunks c = 0..chunks-1 of [0, n), the
// chunks themselves run in parallel.
func forChunks(n, chunks int, fn func(c, lo, hi int)) {
	run := func(clo, chi int) {
		for c := clo; c < chi; c++ {
			fn(c, c*n/chunks, (c+1)*n/chunks)
		}
	}
	if chunks == 1 {
		run(0, 1)
		return
	}
	ParallelFor(chunks, run)
}
