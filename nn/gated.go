package nn

import (
	"fmt"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// GatedMLP is LLaMA's MLP (LlamaMLP): down_proj(silu(gate_proj(x)) ⊙
// up_proj(x)), the SwiGLU feed-forward, with the three projections as
// slots.
type GatedMLP struct {
	name string
	// Gate, Up and Down are slots ("<name>.gate_proj", …).
	Gate, Up, Down Layer

	needDX    bool
	transient bool           // no Backward reads the output (KeepOutput(false))
	g, u      *tensor.Tensor // the gate and up outputs (owned by the slots)
	h, ht     *tensor.Tensor // silu(g) ⊙ u, the input of down_proj: kept or transient
	dg, du    *tensor.Tensor
	dx        *tensor.Tensor
	ran       bool
}

// NewGatedMLP returns a GatedMLP hidden → inter → hidden with zero weights
// (biases when bias, mlp_bias in the config) and activation act, of which
// only "silu" (LLaMA's hidden_act) is supported.
func NewGatedMLP(name string, hidden, inter int, bias bool, act string) (*GatedMLP, error) {
	if act != "silu" && act != "swish" {
		return nil, fmt.Errorf("nn: %s: unsupported hidden_act %q for a gated MLP (supported: silu)", name, act)
	}
	return &GatedMLP{
		name: name, needDX: true,
		Gate: NewLinear(join(name, "gate_proj"), hidden, inter, bias),
		Up:   NewLinear(join(name, "up_proj"), hidden, inter, bias),
		Down: NewLinear(join(name, "down_proj"), inter, hidden, bias),
	}, nil
}

// Name implements Module.
func (m *GatedMLP) Name() string { return m.name }

// Params implements Module.
func (m *GatedMLP) Params() []*Param { return nil }

// Children implements Module.
func (m *GatedMLP) Children() []Module { return []Module{m.Gate, m.Up, m.Down} }

// Slots implements Slotted.
func (m *GatedMLP) Slots() []Slot {
	return []Slot{{Name: m.Gate.Name(), Layer: &m.Gate}, {Name: m.Up.Name(), Layer: &m.Up}, {Name: m.Down.Name(), Layer: &m.Down}}
}

// SetInputGrad implements Layer.
func (m *GatedMLP) SetInputGrad(need bool) { m.needDX = need }

// KeepOutput implements OutputKeeper.
func (m *GatedMLP) KeepOutput(keep bool) { m.transient = !keep }

// NeedsInput implements InputReader: x is read by the backward of the
// projections the backward goes through.
func (m *GatedMLP) NeedsInput() bool {
	needG, needU := m.prepare()
	return needG && NeedsInput(m.Gate) || needU && NeedsInput(m.Up)
}

// Forward implements Layer.
func (m *GatedMLP) Forward(x *tensor.Tensor) *tensor.Tensor {
	m.prepare()
	m.g, m.u = m.Gate.Forward(x), m.Up.Forward(x)
	if m.g.Len() != m.u.Len() {
		panic(fmt.Sprintf("nn: %s: gate output %v and up output %v differ", m.name, m.g, m.u))
	}
	h := OutputBuffer(&m.h, &m.ht, !NeedsInput(m.Down), m.g.Shape()...)
	kernels.SwiGLUForward(h.F32(), m.g.F32(), m.u.F32())
	m.ran = true
	return m.Down.Forward(h)
}

// Backward implements Layer. The gate's and up's gradients are formed only
// for projections that train or when dx is wanted.
func (m *GatedMLP) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if !m.ran {
		panic(fmt.Sprintf("nn: %s: Backward before Forward", m.name))
	}
	needG, needU := m.prepare()
	dh := m.Down.Backward(dy)
	if dh == nil {
		return nil
	}
	var dg, du []float32
	if needG {
		m.dg = ReuseAs(memory.Workspace, m.dg, m.g.Shape()...)
		dg = m.dg.F32()
		clear(dg)
	}
	if needU {
		m.du = ReuseAs(memory.Workspace, m.du, m.u.Shape()...)
		du = m.du.F32()
		clear(du)
	}
	kernels.SwiGLUBackward(dg, du, m.g.F32(), m.u.F32(), dh.F32())
	var rg, ru *tensor.Tensor
	if needG {
		rg = m.Gate.Backward(m.dg)
	}
	if needU {
		ru = m.Up.Backward(m.du)
	}
	if !m.needDX {
		return nil
	}
	m.dx = ReuseAs(memory.Workspace, m.dx, rg.Shape()...)
	kernels.Add(m.dx.F32(), rg.F32(), ru.F32())
	return m.dx
}

// prepare sets the children's input-gradient and keep flags for a
// Backward and returns whether the gate's and up's output gradients are
// formed (both read the gate and up outputs); Forward, Backward and Plan
// share it.
func (m *GatedMLP) prepare() (needG, needU bool) {
	needG = m.needDX || HasTrainable(m.Gate)
	needU = m.needDX || HasTrainable(m.Up)
	m.Down.SetInputGrad(needG || needU)
	m.Gate.SetInputGrad(m.needDX)
	m.Up.SetInputGrad(m.needDX)
	KeepOutput(m.Down, !m.transient)
	KeepOutput(m.Gate, needG || needU)
	KeepOutput(m.Up, needG || needU)
	return needG, needU
}

// Buffers implements Buffered.
func (m *GatedMLP) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&m.h}, []**tensor.Tensor{&m.dg, &m.du, &m.dx, &m.ht}
}

// Plan implements Planner.
func (m *GatedMLP) Plan(in []int, backward bool) Cost {
	inter := withLast(in, OutFeatures(m.Gate))
	n := tensor.NumElems(inter)
	var c Cost
	needG, needU := m.prepare()
	if NeedsInput(m.Down) {
		c.Slot(m.name+"#h", memory.Activations, n)
	} else {
		c.Slot(m.name+"#ht", memory.Workspace, n)
	}
	c.Ran(Elementwise(OpSwiGLU, n))
	needG, needU = needG && backward, needU && backward
	if needG {
		c.f32(memory.Workspace, n)
		c.Ran(Elementwise(OpClear, n))
	}
	if needU {
		c.f32(memory.Workspace, n)
		c.Ran(Elementwise(OpClear, n))
	}
	if needG || needU {
		c.Ran(Elementwise(OpSwiGLUBackward, n))
	}
	if backward && m.needDX {
		c.f32(memory.Workspace, tensor.NumElems(in))
		c.Ran(Elementwise(OpAdd, tensor.NumElems(in)))
	}
	c = c.Plus(PlanOf(m.Down, inter, backward))
	c = c.Plus(PlanOf(m.Gate, in, needG))
	return c.Plus(PlanOf(m.Up, in, needU))
}
