package collective

import (
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
)

// NewGroup returns the n Comms of a new in-process group: rank r is
// comms[r]. Each rank must run on its own goroutine. Reductions add in
// rank order (rank 0's value, plus rank 1's, ...), so results are exact
// functions of the inputs and the same on every rank; the work of each
// operation is split over the ranks' goroutines.
func NewGroup(n int) []Comm {
	if n < 1 {
		panic(fmt.Sprintf("collective: NewGroup(%d): want at least one rank", n))
	}
	g := &group{n: n, calls: make([]call, n), release: make(chan struct{}), done: make(chan struct{})}
	cs := make([]Comm, n)
	for r := range cs {
		cs[r] = &member{g: g, rank: r}
	}
	return cs
}

// Run runs fn on the n ranks of a new in-process group, one goroutine
// each, and waits for all of them. A rank that returns an error or panics
// aborts the group, so the others' pending and later operations fail
// instead of waiting forever. Run returns nil when every rank succeeded,
// else the failing rank's error, prefixed with its rank.
func Run(n int, fn func(c Comm) error) error {
	cs := NewGroup(n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					errs[r] = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
					c.Abort(errs[r])
				}
			}()
			if errs[r] = fn(c); errs[r] != nil {
				c.Abort(errs[r])
			}
		}()
	}
	wg.Wait()
	g := cs[0].(*member).g
	if g.cause != nil {
		return fmt.Errorf("rank %d of %d: %w", g.causeRank, n, g.cause)
	}
	for r, err := range errs {
		if err != nil {
			return fmt.Errorf("rank %d of %d: %w", r, n, err)
		}
	}
	return nil
}

// op names a collective operation.
type op int

const (
	opAllReduce op = iota
	opAllReduce64
	opReduceScatter
	opAllGather
	opBcast
	opBarrier
)

var opNames = [...]string{"AllReduceSum", "AllReduceSum64", "ReduceScatterSum", "AllGather", "Bcast", "Barrier"}

func (o op) String() string { return opNames[o] }

// call is what one rank passed to the current operation.
type call struct {
	op     op
	f32    []float32
	f64    []float64
	counts []int
	root   int
}

func (c *call) len() int {
	if c.op == opAllReduce64 {
		return len(c.f64)
	}
	return len(c.f32)
}

func (c *call) String() string {
	s := fmt.Sprintf("%v of %d values", c.op, c.len())
	switch c.op {
	case opReduceScatter, opAllGather:
		s += fmt.Sprintf(", counts %v", c.counts)
	case opBcast:
		s += fmt.Sprintf(", root %d", c.root)
	case opBarrier:
		s = c.op.String()
	}
	return s
}

// group is the state the ranks of an in-process group share. An operation
// is two meetings: after the first, every rank's call is visible and each
// rank does its share of the work on all the buffers; the second ensures
// nobody touches its buffer again before the others are done with it.
type group struct {
	n     int
	calls []call // this operation's calls, by rank

	mu      sync.Mutex
	arrived int
	release chan struct{} // closed when the current meeting is complete

	done      chan struct{} // closed by the first Abort
	cause     error
	causeRank int
}

// meet waits until every rank has called it (a cyclic barrier), or fails
// once the group is aborted.
func (g *group) meet() error {
	g.mu.Lock()
	if g.cause != nil {
		g.mu.Unlock()
		return g.abortErr()
	}
	ch := g.release
	g.arrived++
	if g.arrived == g.n {
		g.arrived = 0
		g.release = make(chan struct{})
		close(ch)
		g.mu.Unlock()
		return nil
	}
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-g.done:
		return g.abortErr()
	}
}

func (g *group) abortErr() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return &AbortError{Rank: g.causeRank, Cause: g.cause}
}

func (g *group) abort(rank int, err error) {
	if err == nil {
		err = errors.New("aborted")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cause != nil {
		return
	}
	g.cause, g.causeRank = err, rank
	close(g.done)
}

// member is one rank of a group.
type member struct {
	g    *group
	rank int
	tmp  []float32 // this rank's reduction scratch
	tmp6 []float64
}

var _ Comm = (*member)(nil)

// Rank implements Comm.
func (m *member) Rank() int { return m.rank }

// Size implements Comm.
func (m *member) Size() int { return m.g.n }

// Abort implements Comm.
func (m *member) Abort(err error) { m.g.abort(m.rank, err) }

// do runs one collective operation: meet, check that every rank called the
// same thing, do this rank's share of work, meet again.
func (m *member) do(c call, work func(calls []call)) error {
	g := m.g
	g.calls[m.rank] = c
	if err := g.meet(); err != nil {
		return err
	}
	for r := range g.calls {
		if err := same(&g.calls[0], &g.calls[r]); err != nil {
			err = fmt.Errorf("collective: rank 0 called %v but rank %d called %v", &g.calls[0], r, &g.calls[r])
			g.abort(m.rank, err)
			return err
		}
	}
	if work != nil {
		work(g.calls)
	}
	return g.meet()
}

func same(a, b *call) error {
	if a.op != b.op || a.len() != b.len() || a.root != b.root || !slices.Equal(a.counts, b.counts) {
		return errors.New("mismatch")
	}
	return nil
}

// share is this rank's part [lo, hi) of n values when the work is split
// over the ranks.
func (m *member) share(n int) (lo, hi int) {
	return m.rank * n / m.g.n, (m.rank + 1) * n / m.g.n
}

const chunk = 2048 // values summed per pass: the scratch stays in L1

// sumInto sets dst[i] to the sum over ranks of calls[r].f32[lo+i], added in
// rank order, for i < len(dst).
func sumInto(dst []float32, calls []call, lo int) {
	copy(dst, calls[0].f32[lo:])
	for r := 1; r < len(calls); r++ {
		src := calls[r].f32[lo : lo+len(dst)]
		for i, v := range src {
			dst[i] += v
		}
	}
}

// AllReduceSum implements Comm.
func (m *member) AllReduceSum(buf []float32) error {
	return m.do(call{op: opAllReduce, f32: buf}, func(calls []call) {
		lo, hi := m.share(len(buf))
		if m.tmp == nil {
			m.tmp = make([]float32, chunk)
		}
		for a := lo; a < hi; a += chunk {
			s := m.tmp[:min(chunk, hi-a)]
			sumInto(s, calls, a)
			for r := range calls {
				copy(calls[r].f32[a:], s)
			}
		}
	})
}

// AllReduceSum64 implements Comm.
func (m *member) AllReduceSum64(buf []float64) error {
	return m.do(call{op: opAllReduce64, f64: buf}, func(calls []call) {
		lo, hi := m.share(len(buf))
		if m.tmp6 == nil {
			m.tmp6 = make([]float64, chunk)
		}
		for a := lo; a < hi; a += chunk {
			s := m.tmp6[:min(chunk, hi-a)]
			copy(s, calls[0].f64[a:])
			for r := 1; r < len(calls); r++ {
				for i, v := range calls[r].f64[a : a+len(s)] {
					s[i] += v
				}
			}
			for r := range calls {
				copy(calls[r].f64[a:], s)
			}
		}
	})
}

// ReduceScatterSum implements Comm: each rank sums its own block.
func (m *member) ReduceScatterSum(buf []float32, counts []int) error {
	offs, err := Offsets(counts, m.g.n, len(buf))
	if err != nil {
		return err
	}
	return m.do(call{op: opReduceScatter, f32: buf, counts: counts}, func(calls []call) {
		lo, hi := offs[m.rank], offs[m.rank]+counts[m.rank]
		if m.tmp == nil {
			m.tmp = make([]float32, chunk)
		}
		for a := lo; a < hi; a += chunk {
			s := m.tmp[:min(chunk, hi-a)]
			sumInto(s, calls, a)
			copy(buf[a:], s)
		}
	})
}

// AllGather implements Comm: each rank copies the others' blocks.
func (m *member) AllGather(buf []float32, counts []int) error {
	offs, err := Offsets(counts, m.g.n, len(buf))
	if err != nil {
		return err
	}
	return m.do(call{op: opAllGather, f32: buf, counts: counts}, func(calls []call) {
		for r := range calls {
			if r != m.rank {
				lo, hi := offs[r], offs[r]+counts[r]
				copy(buf[lo:hi], calls[r].f32[lo:hi])
			}
		}
	})
}

// Bcast implements Comm.
func (m *member) Bcast(buf []float32, root int) error {
	if root < 0 || root >= m.g.n {
		return fmt.Errorf("collective: broadcast root %d outside [0, %d)", root, m.g.n)
	}
	return m.do(call{op: opBcast, f32: buf, root: root}, func(calls []call) {
		if m.rank != root {
			copy(buf, calls[root].f32)
		}
	})
}

// Barrier implements Comm.
func (m *member) Barrier() error { return m.do(call{op: opBarrier}, nil) }
