package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// threads is the number of workers ParallelFor uses.
var threads atomic.Int32

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// SetThreads sets how many goroutines kernels split work over (n < 1 means
// GOMAXPROCS) and returns the previous value.
func SetThreads(n int) int {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	return int(threads.Swap(int32(n)))
}

// Threads returns the current worker count.
func Threads() int { return int(threads.Load()) }

// ParallelFor calls fn over a partition of [0, n) into at most Threads()
// contiguous chunks, one goroutine each, and waits. fn must be safe to run
// concurrently on disjoint ranges. Small n runs on the caller's goroutine.
func ParallelFor(n int, fn func(lo, hi int)) {
	t := Threads()
	if t > n {
		t = n
	}
	if t <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	wg.Add(t - 1)
	for i := 1; i < t; i++ {
		lo, hi := i*n/t, (i+1)*n/t
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	fn(0, n/t)
	wg.Wait()
}
