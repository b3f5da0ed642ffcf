package collective

import (
	"sync"
	"time"
)

// Op is a kind of collective operation, for traffic accounting.
type Op int

// The operations Counter tells apart (the float32 and float64 all-reduces
// are one kind).
const (
	OpAllReduce Op = iota
	OpReduceScatter
	OpAllGather
	OpBcast
	NumOps
)

var opKindNames = [NumOps]string{"all_reduce", "reduce_scatter", "all_gather", "bcast"}

// String is the operation's snake-case name.
func (o Op) String() string { return opKindNames[o] }

// RingBytes is what one rank sends, on average over the ranks, when size
// ranks run op on a buffer of payload bytes with the bandwidth-optimal ring
// algorithms (Open MPI's and NCCL's choice for large buffers):
// (size-1)/size of the buffer for a reduce-scatter, an all-gather or a
// pipelined broadcast, twice that for an all-reduce (a reduce-scatter then
// an all-gather). One rank sends nothing.
func RingBytes(op Op, payload int64, size int) int64 {
	if size <= 1 {
		return 0
	}
	s := int64(size)
	b := (s - 1) * payload / s
	if op == OpAllReduce {
		b = 2 * (s - 1) * payload / s
	}
	return b
}

// Traffic is what a rank's collective operations moved.
type Traffic struct {
	Calls   int64 `json:"calls"`
	Payload int64 `json:"payload_bytes"` // bytes of the buffers passed
	Sent    int64 `json:"sent_bytes"`    // RingBytes of each call
}

// Add returns t + o.
func (t Traffic) Add(o Traffic) Traffic {
	return Traffic{t.Calls + o.Calls, t.Payload + o.Payload, t.Sent + o.Sent}
}

// Add records one call of op on payload bytes among size ranks.
func (t *Traffic) add(op Op, payload int64, size int) {
	t.Calls++
	t.Payload += payload
	t.Sent += RingBytes(op, payload, size)
}

// ByOp is traffic per operation kind.
type ByOp [NumOps]Traffic

// Total sums the kinds.
func (b ByOp) Total() Traffic {
	var t Traffic
	for _, x := range b {
		t = t.Add(x)
	}
	return t
}

// Sub returns b - o.
func (b ByOp) Sub(o ByOp) ByOp {
	for i := range b {
		b[i] = Traffic{b[i].Calls - o[i].Calls, b[i].Payload - o[i].Payload, b[i].Sent - o[i].Sent}
	}
	return b
}

// Map returns the kinds by name, for JSON reports.
func (b ByOp) Map() map[string]Traffic {
	m := make(map[string]Traffic, NumOps)
	for i, t := range b {
		m[Op(i).String()] = t
	}
	return m
}

// Counter is a Comm that counts the traffic of the Comm it wraps, and the
// time its operations take (waiting for the slowest rank included).
type Counter struct {
	Comm
	mu   sync.Mutex
	t    ByOp
	busy time.Duration
}

// Count wraps c in a Counter.
func Count(c Comm) *Counter { return &Counter{Comm: c} }

// Traffic returns the traffic counted so far.
func (c *Counter) Traffic() ByOp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Busy returns the time spent in operations so far.
func (c *Counter) Busy() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.busy
}

// count runs one operation, counting it.
func (c *Counter) count(op Op, payload int64, f func() error) error {
	start := time.Now()
	err := f()
	c.mu.Lock()
	c.t[op].add(op, payload, c.Size())
	c.busy += time.Since(start)
	c.mu.Unlock()
	return err
}

// AllReduceSum implements Comm.
func (c *Counter) AllReduceSum(buf []float32) error {
	return c.count(OpAllReduce, 4*int64(len(buf)), func() error { return c.Comm.AllReduceSum(buf) })
}

// AllReduceSum64 implements Comm.
func (c *Counter) AllReduceSum64(buf []float64) error {
	return c.count(OpAllReduce, 8*int64(len(buf)), func() error { return c.Comm.AllReduceSum64(buf) })
}

// ReduceScatterSum implements Comm.
func (c *Counter) ReduceScatterSum(buf []float32, counts []int) error {
	return c.count(OpReduceScatter, 4*int64(len(buf)), func() error { return c.Comm.ReduceScatterSum(buf, counts) })
}

// AllGather implements Comm.
func (c *Counter) AllGather(buf []float32, counts []int) error {
	return c.count(OpAllGather, 4*int64(len(buf)), func() error { return c.Comm.AllGather(buf, counts) })
}

// Bcast implements Comm.
func (c *Counter) Bcast(buf []float32, root int) error {
	return c.count(OpBcast, 4*int64(len(buf)), func() error { return c.Comm.Bcast(buf, root) })
}

// Barrier implements Comm.
func (c *Counter) Barrier() error {
	start := time.Now()
	err := c.Comm.Barrier()
	c.mu.Lock()
	c.busy += time.Since(start)
	c.mu.Unlock()
	return err
}
