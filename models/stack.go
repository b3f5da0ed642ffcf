package models

import (
	"fmt"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Block is one transformer block of a Stack: a layer whose internal buffers
// (nn.Buffered; not its output and input gradient, which stay its own) may
// be handed to the next block, and which declares them with nn.Pool in its
// Plan (activations too while pooled: gradient checkpointing).
type Block interface {
	nn.Layer
	nn.Buffered
	SetPooled(on bool)
}

// Stack runs a model's blocks one after another on one set of internal
// buffers: the workspace always (blocks run in turn, so one set serves
// all), and with gradient checkpointing the activations too. Without
// checkpointing, outputs that a block keeps in its transient buffers
// (nn.Restorer: norms and activations) are restored before the block's
// backward when other blocks ran on those buffers since. With
// checkpointing a forward keeps of each block only its input (the previous
// block's output, which stays with that block anyway) and the backward
// recomputes each block's forward into the shared set just before the
// block's backward (the last block's is still there); dropout is rewound
// to the original forward's step, so the recomputed masks, and therefore
// the gradients, are those of a plain run.
type Stack struct {
	Blocks []Block

	holder     int        // the block that holds the pooled set
	park       nn.Parking // own buffers of wrappers only some blocks have
	checkpoint bool
	inputs     []*tensor.Tensor
	rewind     []func()
}

// Forward runs block i on x (blocks run in order, 0 first).
func (s *Stack) Forward(i int, x *tensor.Tensor) *tensor.Tensor {
	s.take(i)
	if s.checkpoint {
		s.inputs[i], s.rewind[i] = x, nn.Rewind(s.Blocks[i])
	}
	return s.Blocks[i].Forward(x)
}

// Backward runs block i's backward (blocks run last first), recomputing
// its forward first under checkpointing, or restoring its transient kept
// outputs without.
func (s *Stack) Backward(i int, dy *tensor.Tensor) *tensor.Tensor {
	switch {
	case s.holder == i: // the last forward on the shared buffers was its own
	case s.checkpoint:
		if s.inputs[i] == nil {
			panic("models: Backward before Forward with gradient checkpointing")
		}
		s.take(i)
		s.rewind[i]()
		s.Blocks[i].Forward(s.inputs[i])
	default:
		s.take(i)
		nn.Restore(s.Blocks[i])
	}
	return s.Blocks[i].Backward(dy)
}

// PlanBlock is the cost of block i on input in within a step whose
// backward reaches it (goes): its forward and backward (its Plan) plus,
// as Backward runs them, a checkpointed block's recomputation or the
// restores of its kept transient outputs. Set the block's input-gradient
// flag first, as for its Backward.
func (s *Stack) PlanBlock(i int, in []int, goes bool) nn.Cost {
	k := nn.PlanOf(s.Blocks[i], in, goes)
	switch {
	case !goes || i == len(s.Blocks)-1: // the holder: nothing to redo
	case s.checkpoint:
		re := nn.PlanOf(s.Blocks[i], in, false)
		k.Forward += re.Forward
		k.Attention += re.Attention
		k.LowRank += re.LowRank
		k.Ops = nn.AddOps(k.Ops, re.Ops)
	default:
		k.Ops = nn.AddOps(k.Ops, k.Restores)
	}
	k.Restores = nil
	return k
}

// SetCheckpointing turns gradient checkpointing on or off.
func (s *Stack) SetCheckpointing(on bool) {
	s.checkpoint = on
	for i, b := range s.Blocks {
		b.SetPooled(on)
		if on && i != s.holder { // drop every other block's internals: one set remains
			release(b)
		}
	}
	s.park = nil // parked activations belonged to the old mode
	s.inputs = make([]*tensor.Tensor, len(s.Blocks))
	s.rewind = make([]func(), len(s.Blocks))
}

// Checkpointing reports whether checkpointing is on.
func (s *Stack) Checkpointing() bool { return s.checkpoint }

// take hands the pooled internal buffers to block i.
func (s *Stack) take(i int) {
	if i < 0 || i >= len(s.Blocks) {
		panic(fmt.Sprintf("models: block %d of %d", i, len(s.Blocks)))
	}
	if s.holder != i {
		if s.park == nil {
			s.park = nn.Parking{}
		}
		nn.SwapBuffers(s.Blocks[i], s.Blocks[s.holder], s.checkpoint, s.park)
		s.holder = i
	}
}

// release drops the internal buffers of block b (they become garbage and
// leave the accounting when collected).
func release(b nn.Module) {
	_ = nn.Walk(b, func(x nn.Module) error {
		if bb, ok := x.(nn.Buffered); ok {
			act, work := bb.Buffers()
			for _, p := range append(act, work...) {
				*p = nil
			}
		}
		return nil
	})
}
