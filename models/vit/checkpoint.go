package vit

// SetGradientCheckpointing turns gradient checkpointing on or off (see
// models.Stack).
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
func (m *Model) SetGradientCheckpointing(on bool) { m.stack.SetCheckpointing(on) }

// GradientCheckpointing reports whether checkpointing is on.
func (m *Model) GradientCheckpointing() bool { return m.stack.Checkpointing() }
