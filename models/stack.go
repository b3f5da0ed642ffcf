package models

import (
	"fmt"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Block is one transformer block of a Stack: a layer whose internal buffers
// (nn.Buffered; not its output, which stays its own, nor its input
// gradient, which the Stack lends it) may be handed to the next block, and
// which declares them with nn.Pool in its Plan (activations too while
// pooled: gradient checkpointing).
type Block interface {
	nn.Layer
	nn.Buffered
	SetPooled(on bool)
	// BlockGrad is where the block's Backward writes its input gradient.
	BlockGrad() *BlockGrad
}

// BlockGrad is a block's input gradient dx: the buffer its Backward writes
// (and returns), and the key under which its Plan declares it
// (nn.Cost.Slot, workspace). The Stack lends block i the buffer of parity
// i%2 for its Backward, which reads block i+1's dx from the other one, so
// two buffers serve all blocks; Slot names the parity, so a plan counts
// each buffer once.
type BlockGrad struct {
	DX   *tensor.Tensor
	Slot string
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
//
// The blocks' input gradients alternate between two buffers by parity (see
// BlockGrad); TopGrad is the one the last block reads its incoming
// gradient from, when a model makes it.
type Stack struct {
	blocks     []Block
	name       string            // the blocks' list ("model.layers"): the dx slots' prefix
	dxs        [2]*tensor.Tensor // the input gradients by parity
	holder     int               // the block that holds the pooled set
	park       nn.Parking        // own buffers of wrappers only some blocks have
	checkpoint bool
	inputs     []*tensor.Tensor
	rewind     []func()
}

// NewStack returns the stack of blocks, named name (the module list that
// holds them, "model.layers"), without checkpointing.
func NewStack(name string, blocks []Block) *Stack {
	s := &Stack{blocks: blocks, name: name}
	for i, b := range blocks {
		b.BlockGrad().Slot = s.gradSlot(i)
	}
	s.SetCheckpointing(false)
	return s
}

// gradSlot is the plan's key of the input-gradient buffer of block i (of
// parity i%2); gradSlot(len(blocks)) is TopGrad's.
func (s *Stack) gradSlot(i int) string { return fmt.Sprintf("%s#dx%d", s.name, i%2) }

// TopGrad returns the workspace buffer of the given shape for the last
// block's incoming gradient (dL/d its output), for a model to fill: it is
// the input-gradient buffer of the parity that the last block does not
// write.
func (s *Stack) TopGrad(shape ...int) *tensor.Tensor {
	top := &s.dxs[len(s.blocks)%2]
	*top = nn.ReuseAs(memory.Workspace, *top, shape...)
	return *top
}

// PlanTopGrad declares TopGrad's buffer of n elements in c.
func (s *Stack) PlanTopGrad(c *nn.Cost, n int) {
	c.Slot(s.gradSlot(len(s.blocks)), memory.Workspace, n)
}

// Forward runs block i on x (blocks run in order, 0 first).
func (s *Stack) Forward(i int, x *tensor.Tensor) *tensor.Tensor {
	s.take(i)
	if s.checkpoint {
		s.inputs[i], s.rewind[i] = x, nn.Rewind(s.blocks[i])
	}
	return s.blocks[i].Forward(x)
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
		s.blocks[i].Forward(s.inputs[i])
	default:
		s.take(i)
		nn.Restore(s.blocks[i])
	}
	// Lend block i the input-gradient buffer of its parity for the call.
	g, dx := s.blocks[i].BlockGrad(), &s.dxs[i%2]
	g.DX, *dx = *dx, g.DX
	y := s.blocks[i].Backward(dy)
	g.DX, *dx = *dx, g.DX
	return y
}

// PlanBlock is the cost of block i on input in within a step whose
// backward reaches it (goes): its forward and backward (its Plan) plus,
// as Backward runs them, a checkpointed block's recomputation or the
// restores of its kept transient outputs. Set the block's input-gradient
// flag first, as for its Backward.
func (s *Stack) PlanBlock(i int, in []int, goes bool) nn.Cost {
	k := nn.PlanOf(s.blocks[i], in, goes)
	switch {
	case !goes || i == len(s.blocks)-1: // the holder: nothing to redo
	case s.checkpoint:
		re := nn.PlanOf(s.blocks[i], in, false)
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
	for i, b := range s.blocks {
		b.SetPooled(on)
		if on && i != s.holder { // drop every other block's internals: one set remains
			release(b)
		}
	}
	s.park = nil // parked activations belonged to the old mode
	s.inputs = make([]*tensor.Tensor, len(s.blocks))
	s.rewind = make([]func(), len(s.blocks))
}

// Checkpointing reports whether checkpointing is on.
func (s *Stack) Checkpointing() bool { return s.checkpoint }

// take hands the pooled internal buffers to block i.
func (s *Stack) take(i int) {
	if i < 0 || i >= len(s.blocks) {
		panic(fmt.Sprintf("models: block %d of %d", i, len(s.blocks)))
	}
	if s.holder != i {
		if s.park == nil {
			s.park = nn.Parking{}
		}
		nn.SwapBuffers(s.blocks[i], s.blocks[s.holder], s.checkpoint, s.park)
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
