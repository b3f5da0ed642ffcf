package vit

import (
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// SetGradientCheckpointing turns gradient checkpointing on or off.
//
// Without it, every block keeps its own activations, but the blocks run
// on one set of internal workspace, handed from block to block. With it
// on, a forward keeps of each block only its input (the previous block's
// output, which stays with that block anyway) and all blocks run on one
// set of internal buffers, handed from block to block; the backward
// recomputes each block's forward into that set just before the block's
// backward (the last block's is still there). Dropout is rewound to the
// step of the original forward, so the recomputed masks, and therefore the
// gradients, are those of a plain run.
func (m *Model) SetGradientCheckpointing(on bool) {
	m.checkpoint = on
	for i, l := range m.Layers {
		l.pooled = on
		if on && i != m.holder { // drop every other block's internals: one set remains
			release(l)
		}
	}
	m.park = nil // parked activations belonged to the old mode
	m.inputs = make([]*tensor.Tensor, len(m.Layers))
	m.rewind = make([]func(), len(m.Layers))
}

// GradientCheckpointing reports whether checkpointing is on.
func (m *Model) GradientCheckpointing() bool { return m.checkpoint }

// take hands the pooled internal buffers to block i: the workspace always,
// the activations too with checkpointing.
func (m *Model) take(i int) {
	if m.holder != i {
		if m.park == nil {
			m.park = nn.Parking{}
		}
		nn.SwapBuffers(m.Layers[i], m.Layers[m.holder], m.checkpoint, m.park)
		m.holder = i
	}
}

// recompute runs block i's forward again, with its original dropout masks,
// so its backward finds the activations it saved.
func (m *Model) recompute(i int) {
	if m.inputs[i] == nil {
		panic("vit: Backward before Forward with gradient checkpointing")
	}
	m.take(i)
	m.rewind[i]()
	m.Layers[i].Forward(m.inputs[i])
}

// release drops the internal buffers of block l (they become garbage and
// leave the accounting when collected).
func release(l *Layer) {
	_ = nn.Walk(l, func(x nn.Module) error {
		if b, ok := x.(nn.Buffered); ok {
			act, work := b.Buffers()
			for _, p := range append(act, work...) {
				*p = nil
			}
		}
		return nil
	})
}
