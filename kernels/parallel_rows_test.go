package kernels

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestParallelRowsCovers(t *testing.T) {
	for _, threads := range []int{1, 2, 3} {
		rkThreads(threads, func() {
			for _, c := range []struct{ n, cost int }{{0, 1}, {1, 1}, {7, 1}, {1000, 1}, {1000, 1000}, {3, 1 << 20}} {
				seen := make([]int32, c.n)
				var calls atomic.Int32
				parallelRows(c.n, c.cost, func(lo, hi int) {
					calls.Add(1)
					for i := lo; i < hi; i++ {
						atomic.AddInt32(&seen[i], 1)
					}
				})
				for i, s := range seen {
					if s != 1 {
						t.Fatalf("threads %d n %d cost %d: index %d visited %d times", threads, c.n, c.cost, i, s)
					}
				}
				small := c.n*c.cost < parallelGrain
				if small && calls.Load() > 1 {
					t.Errorf("n %d cost %d: small input split into %d calls", c.n, c.cost, calls.Load())
				}
				if !small && threads > 1 && c.n > 1 && calls.Load() < 2 {
					t.Errorf("n %d cost %d: large input not split", c.n, c.cost)
				}
			}
		})
	}
}

func TestForChunks(t *testing.T) {
	for _, c := range []struct{ n, cost int }{{1, 1}, {5, 1 << 20}, {1000, 100}, {100000, 100}} {
		chunks := numChunks(c.n, c.cost)
		if chunks < 1 || chunks > maxChunks || chunks > c.n {
			t.Fatalf("numChunks(%d, %d) = %d", c.n, c.cost, chunks)
		}
		var mu sync.Mutex
		ranges := make([][2]int, chunks)
		rkThreads(2, func() {
			forChunks(c.n, chunks, func(ci, lo, hi int) {
				mu.Lock()
				ranges[ci] = [2]int{lo, hi}
				mu.Unlock()
			})
		})
		next := 0
		for ci, r := range ranges {
			if r[0] != next || r[1] < r[0] {
				t.Fatalf("n %d: chunk %d is [%d, %d), want to start at %d", c.n, ci, r[0], r[1], next)
			}
			next = r[1]
		}
		if next != c.n {
			t.Fatalf("n %d: chunks end at %d", c.n, next)
		}
	}
}
