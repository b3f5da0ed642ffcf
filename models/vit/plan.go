package vit

import (
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
)

// Plan implements nn.Planner for pixel_values of shape in [B, C, S, S]:
// the buffers and GEMM FLOPs of a Forward and, when backward, of the
// Backward from dL/dlogits, with the current trainability, input-gradient
// flag and checkpointing. It follows Backward's decisions step by step
// (and sets the same flags), so it declares exactly what a step runs.
func (m *Model) Plan(in []int, backward bool) nn.Cost {
	B, T, H := in[0], m.Config.Tokens(), m.Config.HiddenSize
	seq := []int{B, T, H}
	below, belowNorm := m.belowFunc()
	m.prepare()

	var c nn.Cost
	c.Bytes[memory.Activations] = 4 * int64(B*H) // cls
	c.Run(nn.Elementwise(nn.OpCopy, H), int64(B))
	cls := []int{B, H}
	// Walk down as Backward does; goes says whether the gradient still flows.
	c = c.Plus(nn.PlanOf(m.Classifier, cls, backward))
	goes := backward && (belowNorm || nn.HasTrainable(m.LayerNorm))
	c = c.Plus(m.LayerNorm.Plan(cls, goes))
	goes = goes && belowNorm
	if goes {
		m.stack.PlanTopGrad(&c, B*T*H) // dseq
		c.Ran(nn.Elementwise(nn.OpClear, B*T*H))
		c.Run(nn.Elementwise(nn.OpCopy, H), int64(B))
	}
	c.Restores = nil // the top-level modules' buffers are their own
	for i := len(m.Layers) - 1; i >= 0; i-- {
		c = c.Plus(m.stack.PlanBlock(i, seq, goes))
		goes = goes && below(i)
	}
	return c.Plus(m.Embeddings.Plan(in, goes))
}

// belowFunc returns below(i), whether anything under block i needs a
// gradient, and below(len(Layers)) for the final LayerNorm.
func (m *Model) belowFunc() (func(int) bool, bool) {
	trEmb := nn.HasTrainable(m.Embeddings)
	lowest := -1 // lowest block with a trainable parameter
	for i, l := range m.Layers {
		if nn.HasTrainable(l) {
			lowest = i
			break
		}
	}
	below := func(i int) bool { return m.InputGrad || trEmb || (lowest >= 0 && lowest < i) }
	return below, below(len(m.Layers))
}

// BlocksBackward is how many encoder blocks a Backward runs through with
// the current trainability (the gradient stops at the lowest block that
// needs one).
func (m *Model) BlocksBackward() int {
	below, belowNorm := m.belowFunc()
	if !belowNorm {
		return 0
	}
	n := 0
	for i := len(m.Layers) - 1; i >= 0; i-- {
		n++
		if !below(i) {
			break
		}
	}
	return n
}
