package nn

import (
	"fmt"

	"github.com/golora/golora/memory"
)

// Cost is what one Forward (and, when planned, the following Backward) of a
// module allocates and computes, declared by the module itself from its
// sizes and flags. The planner sums it over a model; tests check it against
// the accounting and the GEMM counters, so the two agree by construction.
type Cost struct {
	// Bytes are the buffers the module owns, by category.
	Bytes memory.Bytes
	// Shared are buffers shared with the module's siblings of the same kind
	// (attention scratch, a checkpointed block's internals): they combine
	// by maximum, not by sum.
	Shared memory.Bytes
	// Slots are output buffers by key (the owner's name, "#", the field),
	// declared with Slot. Outside a block the keys are unique and the slots
	// add up; a block whose buffers are handed on (Pool) keys them by their
	// position in the block, and the blocks' slots combine by maximum per
	// key: one buffer per position, the largest any block needs, which is
	// what handing the buffers on (SwapBuffers) leaves allocated.
	Slots map[string]memory.Bytes
	// Ops is the work a step runs, as a count per distinct kernel call
	// (see Op): what the planner times on the running machine. Restores
	// are the ops Restore would run (LayerNorm and activation outputs
	// recomputed for the backward): a model adds them to Ops for the
	// blocks it restores.
	Ops, Restores map[Op]int64
	// GEMM FLOPs (2·m·n·k per product): forward (with any recomputation),
	// backward to activations (dX, also LoRA's dh and attention's dQ/dK/dV),
	// backward to weights (dW, LoRA's dA and dB).
	Forward, BackwardDX, BackwardDW int64
	// Of all those FLOPs, the ones in attention's per-head products and in
	// rank-r products (LoRA), for reports (the step time comes from Ops,
	// where every product is timed by its own shape).
	Attention, LowRank int64
}

// Plus combines two costs: Bytes, FLOPs and Ops add, Shared takes the
// maximum, and so do Slots of the same key.
func (c Cost) Plus(o Cost) Cost {
	c.Bytes = c.Bytes.Add(o.Bytes)
	c.Shared = c.Shared.Max(o.Shared)
	if len(o.Slots) > 0 {
		s := make(map[string]memory.Bytes, len(c.Slots)+len(o.Slots))
		for k, v := range c.Slots {
			s[k] = v
		}
		for k, v := range o.Slots {
			s[k] = s[k].Max(v)
		}
		c.Slots = s
	}
	c.Ops = addOps(c.Ops, o.Ops)
	c.Restores = addOps(c.Restores, o.Restores)
	c.Forward += o.Forward
	c.BackwardDX += o.BackwardDX
	c.BackwardDW += o.BackwardDW
	c.Attention += o.Attention
	c.LowRank += o.LowRank
	return c
}

// Total is owned plus shared bytes plus the slots.
func (c Cost) Total() memory.Bytes {
	t := c.Bytes.Add(c.Shared)
	for _, v := range c.Slots {
		t = t.Add(v)
	}
	return t
}

// Slot declares an f32 output buffer of n values in category cat, keyed by
// key (see Slots). Declaring a key twice keeps the larger.
func (c *Cost) Slot(key string, cat memory.Category, n int) {
	var b memory.Bytes
	b[cat] = 4 * int64(n)
	c.mergeSlot(key, b)
}

// mergeSlot merges one slot into c (by maximum), copying the map first so
// that costs sharing it are not changed.
func (c *Cost) mergeSlot(key string, b memory.Bytes) {
	s := make(map[string]memory.Bytes, len(c.Slots)+1)
	for k, v := range c.Slots {
		s[k] = v
	}
	s[key] = s[key].Max(b)
	c.Slots = s
}

// Output declares the output buffer of module name as OutputBuffer makes
// it: kept (an activation, field "y") or transient (workspace, field "yt").
func (c *Cost) Output(name string, keep bool, n int) {
	if keep {
		c.Slot(name+"#y", memory.Activations, n)
	} else {
		c.Slot(name+"#yt", memory.Workspace, n)
	}
}

// FLOPs is the sum of forward and backward FLOPs.
func (c Cost) FLOPs() int64 { return c.Forward + c.BackwardDX + c.BackwardDW }

// f32 adds the bytes of an f32 buffer of n values to category cat.
func (c *Cost) f32(cat memory.Category, n int) { c.Bytes[cat] += 4 * int64(n) }

// gemm returns the FLOPs of an m×n×k product.
func gemm(m, n, k int) int64 { return 2 * int64(m) * int64(n) * int64(k) }

// GemmFLOPs returns the FLOPs of an m×n×k product, as kernels counts them.
func GemmFLOPs(m, n, k int) int64 { return gemm(m, n, k) }

// Planner is implemented by modules that declare their cost: Plan returns
// the cost of a Forward on an input of shape in and, when backward, of the
// Backward after it, with the module's current trainability, training mode
// and input-gradient flag. A parent sets its children's input-gradient flags
// exactly as its Backward does before asking them.
type Planner interface {
	Plan(in []int, backward bool) Cost
}

// PlanOf returns m's declared cost, panicking with the module's name when m
// does not declare one (every module in golora's trees does).
func PlanOf(m Module, in []int, backward bool) Cost {
	p, ok := m.(Planner)
	if !ok {
		panic(fmt.Sprintf("nn: %s (%T) does not implement Planner", m.Name(), m))
	}
	return p.Plan(in, backward)
}

// OutFeatures is the output width of a Linear or of a layer wrapping one
// (found as the first *Linear at or below l).
func OutFeatures(l Module) int {
	out := -1
	_ = Walk(l, func(x Module) error {
		if lin, ok := x.(*Linear); ok && out < 0 {
			out = lin.Out
		}
		return nil
	})
	if out < 0 {
		panic(fmt.Sprintf("nn: %s (%T) holds no Linear", l.Name(), l))
	}
	return out
}
