package collective

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// inputs returns size buffers of n random values, one per rank.
func inputs(size, n int, seed uint64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([][]float32, size)
	for r := range out {
		out[r] = make([]float32, n)
		for i := range out[r] {
			out[r][i] = float32(rng.NormFloat64()) * float32(1+r)
		}
	}
	return out
}

// rankOrderSum is the reference: rank 0's value plus rank 1's, ... in f32.
func rankOrderSum(in [][]float32, i int) float32 {
	s := in[0][i]
	for r := 1; r < len(in); r++ {
		s += in[r][i]
	}
	return s
}

func TestGroupOperations(t *testing.T) {
	for _, size := range []int{1, 2, 3, 5} {
		for _, n := range []int{0, 1, 7, 5000} {
			t.Run(fmt.Sprintf("%d ranks, %d values", size, n), func(t *testing.T) {
				in := inputs(size, n, uint64(size*100+n))
				counts := Split(n, size)
				offs, err := Offsets(counts, size, n)
				if err != nil {
					t.Fatal(err)
				}
				err = Run(size, func(c Comm) error {
					r := c.Rank()
					if c.Size() != size {
						return fmt.Errorf("size %d", c.Size())
					}
					buf := append([]float32(nil), in[r]...)
					if err := c.AllReduceSum(buf); err != nil {
						return err
					}
					for i := range buf {
						if buf[i] != rankOrderSum(in, i) {
							return fmt.Errorf("all-reduce [%d] = %v, want %v", i, buf[i], rankOrderSum(in, i))
						}
					}
					buf = append(buf[:0], in[r]...)
					if err := c.ReduceScatterSum(buf, counts); err != nil {
						return err
					}
					for i := offs[r]; i < offs[r]+counts[r]; i++ {
						if buf[i] != rankOrderSum(in, i) {
							return fmt.Errorf("reduce-scatter [%d] = %v, want %v", i, buf[i], rankOrderSum(in, i))
						}
					}
					// All-gather the blocks of each rank's own input.
					buf = make([]float32, n)
					copy(buf[offs[r]:offs[r]+counts[r]], in[r][offs[r]:])
					if err := c.AllGather(buf, counts); err != nil {
						return err
					}
					for q := range size {
						for i := offs[q]; i < offs[q]+counts[q]; i++ {
							if buf[i] != in[q][i] {
								return fmt.Errorf("all-gather [%d] = %v, want rank %d's %v", i, buf[i], q, in[q][i])
							}
						}
					}
					root := size - 1
					buf = append(buf[:0], in[r]...)
					if err := c.Bcast(buf, root); err != nil {
						return err
					}
					for i := range buf {
						if buf[i] != in[root][i] {
							return fmt.Errorf("bcast [%d] = %v, want %v", i, buf[i], in[root][i])
						}
					}
					f := []float64{float64(r), 1, 0.1}
					if err := c.AllReduceSum64(f); err != nil {
						return err
					}
					if want := float64(size * (size - 1) / 2); f[0] != want || f[1] != float64(size) {
						return fmt.Errorf("all-reduce64 = %v, want [%v %d ...]", f, want, size)
					}
					return c.Barrier()
				})
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestGroupIsDeterministic: the same inputs give the same bits however the
// goroutines are scheduled.
func TestGroupIsDeterministic(t *testing.T) {
	in := inputs(4, 10000, 9)
	var first [][]float32
	for trial := 0; trial < 5; trial++ {
		out := make([][]float32, 4)
		err := Run(4, func(c Comm) error {
			buf := append([]float32(nil), in[c.Rank()]...)
			if c.Rank() == trial%4 {
				time.Sleep(time.Millisecond)
			}
			err := c.AllReduceSum(buf)
			out[c.Rank()] = buf
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for r := range out {
			for i := range out[r] {
				if out[r][i] != out[0][i] || (first != nil && out[r][i] != first[0][i]) {
					t.Fatalf("trial %d rank %d [%d]: %v differs", trial, r, i, out[r][i])
				}
			}
		}
		first = out
	}
}

func TestGroupMismatchFails(t *testing.T) {
	err := Run(2, func(c Comm) error {
		if c.Rank() == 0 {
			return c.AllReduceSum(make([]float32, 4))
		}
		return c.Bcast(make([]float32, 4), 0)
	})
	if err == nil || !strings.Contains(err.Error(), "rank 0 called AllReduceSum of 4 values but rank 1 called Bcast of 4 values, root 0") {
		t.Fatalf("got %v, want a mismatch naming both calls", err)
	}
	err = Run(2, func(c Comm) error { return c.AllReduceSum(make([]float32, 3+c.Rank())) })
	if err == nil || !strings.Contains(err.Error(), "but rank 1 called AllReduceSum of 4 values") {
		t.Fatalf("got %v, want a length mismatch", err)
	}
}

// TestAbortStopsEveryRank: a rank that fails mid-run makes the others'
// blocked and later operations fail with its error, and Run reports it.
func TestAbortStopsEveryRank(t *testing.T) {
	var others atomic.Int32
	boom := errors.New("disk full")
	err := Run(3, func(c Comm) error {
		buf := make([]float32, 100)
		for step := 0; ; step++ {
			if c.Rank() == 1 && step == 3 {
				return boom
			}
			if err := c.AllReduceSum(buf); err != nil {
				if !errors.Is(err, ErrAborted) || !errors.Is(err, boom) {
					return fmt.Errorf("unexpected error %v", err)
				}
				others.Add(1)
				return err
			}
		}
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "rank 1 of 3") {
		t.Fatalf("Run returned %v, want rank 1's error", err)
	}
	if others.Load() != 2 {
		t.Errorf("%d other ranks saw the abort, want 2", others.Load())
	}
}

func TestPanicAborts(t *testing.T) {
	err := Run(2, func(c Comm) error {
		if c.Rank() == 0 {
			var m map[string]int
			m["x"] = 1 // panics
		}
		return c.Barrier()
	})
	if err == nil || !strings.Contains(err.Error(), "rank 0 of 2: panic: assignment to entry in nil map") {
		t.Fatalf("got %v, want rank 0's panic", err)
	}
}

func TestBadCounts(t *testing.T) {
	var l Local
	if err := l.ReduceScatterSum(make([]float32, 3), []int{2}); err == nil {
		t.Error("counts not covering the buffer accepted")
	}
	err := Run(2, func(c Comm) error { return c.AllGather(make([]float32, 3), []int{1, 1, 1}) })
	if err == nil || !strings.Contains(err.Error(), "3 counts for 2 ranks") {
		t.Errorf("got %v", err)
	}
	if err := l.Bcast(nil, 1); err == nil {
		t.Error("root 1 of one rank accepted")
	}
}

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		n, size int
		want    string
	}{{10, 3, "[4 3 3]"}, {2, 4, "[1 1 0 0]"}, {0, 2, "[0 0]"}, {8, 2, "[4 4]"}} {
		if got := fmt.Sprint(Split(c.n, c.size)); got != c.want {
			t.Errorf("Split(%d, %d) = %s, want %s", c.n, c.size, got, c.want)
		}
	}
}

func TestCounter(t *testing.T) {
	var got [2]ByOp
	err := Run(2, func(c Comm) error {
		k := Count(c)
		buf := make([]float32, 1000)
		if err := k.AllReduceSum(buf); err != nil {
			return err
		}
		if err := k.ReduceScatterSum(buf, Split(1000, 2)); err != nil {
			return err
		}
		if err := k.AllGather(buf, Split(1000, 2)); err != nil {
			return err
		}
		if err := k.AllReduceSum64(make([]float64, 2)); err != nil {
			return err
		}
		got[c.Rank()] = k.Traffic()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Two ranks: a ring all-reduce sends the whole buffer (half twice), a
	// reduce-scatter or all-gather half of it.
	want := ByOp{OpAllReduce: {2, 4016, 4016}, OpReduceScatter: {1, 4000, 2000}, OpAllGather: {1, 4000, 2000}}
	for r := range got {
		if got[r] != want {
			t.Errorf("rank %d: %+v, want %+v", r, got[r], want)
		}
	}
	if tot := got[0].Total(); tot.Sent != 8016 || tot.Calls != 4 {
		t.Errorf("total %+v", tot)
	}
	if b := RingBytes(OpAllReduce, 1<<20, 4); b != 3<<19 {
		t.Errorf("4 ranks all-reduce 1 MiB: %d bytes sent, want 1.5 MiB", b)
	}
}

func ExampleRun() {
	// Four ranks average a value, as data-parallel training averages
	// gradients.
	err := Run(4, func(c Comm) error {
		g := []float32{float32(c.Rank() + 1)}
		if err := c.AllReduceSum(g); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println("mean:", g[0]/float32(c.Size()))
		}
		return nil
	})
	fmt.Println("error:", err)
	// Output:
	// mean: 2.5
	// error: <nil>
}
