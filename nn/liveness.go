package nn

import (
	"strings"

	"github.com/golora/golora/memory"
)

// OutputKeeper is implemented by modules that can leave their output in a
// transient buffer when no Backward reads it (see the package doc,
// "Liveness"). A module that is not told keeps its output.
type OutputKeeper interface {
	// KeepOutput says whether some Backward after the next Forward reads
	// that Forward's output: the parent's decision, from the NeedsInput of
	// the module that reads the output.
	KeepOutput(keep bool)
}

// InputReader is implemented by modules that know whether their Backward
// reads their input. A module that does not say is taken to read it.
type InputReader interface {
	// NeedsInput reports whether the module's Backward, with its current
	// flags (trainability, SetInputGrad, KeepOutput), reads the input of its
	// Forward, so that whatever wrote that input must keep it.
	NeedsInput() bool
}

// Restorer is implemented by modules that hold an output they were told to
// keep in a transient buffer and recompute it on demand, because one cheap
// pass over what they keep anyway costs less than a buffer per block
// (LayerNorm from its input and per-row statistics, an activation from its
// input).
type Restorer interface {
	// Restore rewrites the output of the last Forward, bit for bit, into
	// the buffer that Forward returned, if the module was told to keep it.
	Restore()
}

// KeepOutput tells m whether its output is read by a Backward (a no-op for
// modules that always keep it).
func KeepOutput(m Module, keep bool) {
	if k, ok := m.(OutputKeeper); ok {
		k.KeepOutput(keep)
	}
}

// NeedsInput reports whether m's Backward reads m's input: m's own answer,
// or true for modules that do not say.
func NeedsInput(m Module) bool {
	if r, ok := m.(InputReader); ok {
		return r.NeedsInput()
	}
	return true
}

// Restore recomputes the restorable outputs under m (Restorer), in forward
// order so that a restored output may feed the next one. A model whose
// blocks hand their transient buffers on calls it on a block before the
// block's Backward whenever another block's Forward ran on those buffers
// since (gradient checkpointing's recomputation needs none).
func Restore(m Module) {
	_ = Walk(m, func(x Module) error {
		if r, ok := x.(Restorer); ok {
			r.Restore()
		}
		return nil
	})
}

// Pool is the cost of one block of a model whose blocks run one after
// another on one set of internal buffers, handed from block to block
// (SwapBuffers, Parking): own are the block's own buffers (those that stay
// with it, such as its output and input gradient), inner the combined cost
// of its children, and name the block's name. The inner workspace is
// shared by all blocks: unkeyed bytes by maximum over the blocks (Shared),
// slots by maximum per position, their keys made relative to the block.
// Kept activations stay the block's own, except with all (gradient
// checkpointing), where they are handed on as well.
func Pool(name string, own, inner Cost, all bool) Cost {
	c := inner // the FLOPs
	c.Bytes, c.Shared, c.Slots = own.Bytes, own.Shared, nil
	var shared memory.Bytes
	shared[memory.Workspace] = inner.Bytes[memory.Workspace] + inner.Shared[memory.Workspace]
	if all {
		shared[memory.Activations] = inner.Bytes[memory.Activations] + inner.Shared[memory.Activations]
	} else {
		c.Bytes[memory.Activations] += inner.Bytes[memory.Activations]
		shared[memory.Activations] = inner.Shared[memory.Activations]
	}
	c.Shared = c.Shared.Max(shared)
	for k, v := range own.Slots {
		c.mergeSlot(k, v)
	}
	for k, v := range inner.Slots {
		if !all {
			c.Bytes[memory.Activations] += v[memory.Activations]
			v[memory.Activations] = 0
		}
		if v.Total() != 0 {
			c.mergeSlot(relative(name, k), v)
		}
	}
	return c
}

// relative is slot key k of a module under block name, relative to the
// block ("attention.attention.query#yt", "#r" for the block's own field).
func relative(name, k string) string {
	if rest, ok := strings.CutPrefix(k, name); ok && (strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "#")) {
		return strings.TrimPrefix(rest, ".")
	}
	return k
}
