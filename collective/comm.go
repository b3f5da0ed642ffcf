package collective

import (
	"errors"
	"fmt"
)

// Comm is one rank's handle on a group of ranks. Operations are collective:
// every rank of the group calls them in the same order, with buffers of the
// same length (and the same counts or root). Buffers are modified in place.
type Comm interface {
	// Rank is this rank's number, from 0 to Size()-1.
	Rank() int
	// Size is the number of ranks.
	Size() int
	// AllReduceSum replaces buf on every rank by the elementwise sum of
	// every rank's buf. Every rank gets the same bits.
	AllReduceSum(buf []float32) error
	// AllReduceSum64 is AllReduceSum for float64 values (losses, squared
	// norms, counts).
	AllReduceSum64(buf []float64) error
	// ReduceScatterSum splits buf into Size() consecutive blocks of
	// counts[r] values and leaves in this rank's block (at offset
	// sum(counts[:Rank()])) the sum over ranks of that block; the other
	// blocks of buf are left unspecified.
	ReduceScatterSum(buf []float32, counts []int) error
	// AllGather splits buf into Size() blocks as ReduceScatterSum does and
	// copies rank r's block r into block r of every rank's buf.
	AllGather(buf []float32, counts []int) error
	// Bcast copies root's buf into every rank's buf.
	Bcast(buf []float32, root int) error
	// Barrier returns once every rank has called it.
	Barrier() error
	// Abort stops the whole group because this rank failed with err:
	// every rank's pending and later operations fail (in-process), or the
	// job is killed (MPI: this call does not return).
	Abort(err error)
}

// ErrAborted is wrapped by the errors of operations stopped by Abort.
var ErrAborted = errors.New("collective: the group was aborted")

// AbortError is the error a rank's operations return after another rank
// aborted the group: it names the rank and its cause.
type AbortError struct {
	Rank  int
	Cause error
}

func (e *AbortError) Error() string {
	return fmt.Sprintf("collective: rank %d failed: %v", e.Rank, e.Cause)
}

// Is makes errors.Is(err, ErrAborted) true.
func (e *AbortError) Is(target error) bool { return target == ErrAborted }

// Unwrap returns the failed rank's error.
func (e *AbortError) Unwrap() error { return e.Cause }

// Offsets returns the offset of every block of counts and their total,
// after checking that there is one count per rank, none negative, and
// that they cover n values exactly.
func Offsets(counts []int, size, n int) ([]int, error) {
	if len(counts) != size {
		return nil, fmt.Errorf("collective: %d counts for %d ranks", len(counts), size)
	}
	offs := make([]int, size)
	total := 0
	for r, c := range counts {
		if c < 0 {
			return nil, fmt.Errorf("collective: count %d of rank %d is negative", c, r)
		}
		offs[r] = total
		total += c
	}
	if total != n {
		return nil, fmt.Errorf("collective: counts sum to %d values, the buffer has %d", total, n)
	}
	return offs, nil
}

// Split divides n values into size near-equal consecutive blocks, the
// first n%size one value longer: the counts ZeRO uses to shard a buffer.
func Split(n, size int) []int {
	c := make([]int, size)
	for r := range c {
		c[r] = n / size
		if r < n%size {
			c[r]++
		}
	}
	return c
}
