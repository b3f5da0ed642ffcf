package nn

import "github.com/golora/golora/tensor"

// Intermediate is a dense Linear followed by the activation: Hugging Face's
// ViTIntermediate / BertIntermediate ("intermediate.dense" +
// "intermediate.intermediate_act_fn").
type Intermediate struct {
	name string
	// Dense is a slot ("<name>.dense").
	Dense Layer
	Act   *Activation

	needDX, transient bool
}

// NewIntermediate returns an Intermediate with a zero Linear in→out (with
// bias) and the activation act, or an error naming an unsupported act.
func NewIntermediate(name string, in, out int, act string) (*Intermediate, error) {
	a, err := NewActivation(join(name, "intermediate_act_fn"), act)
	if err != nil {
		return nil, err
	}
	return &Intermediate{name: name, needDX: true, Dense: NewLinear(join(name, "dense"), in, out, true), Act: a}, nil
}

// Name implements Module.
func (m *Intermediate) Name() string { return m.name }

// Params implements Module.
func (m *Intermediate) Params() []*Param { return nil }

// Children implements Module.
func (m *Intermediate) Children() []Module { return []Module{m.Dense, m.Act} }

// Slots implements Slotted.
func (m *Intermediate) Slots() []Slot { return []Slot{{Name: m.Dense.Name(), Layer: &m.Dense}} }

// SetInputGrad implements Layer.
func (m *Intermediate) SetInputGrad(need bool) { m.needDX = need }

// KeepOutput implements OutputKeeper.
func (m *Intermediate) KeepOutput(keep bool) { m.transient = !keep }

// NeedsInput implements InputReader.
func (m *Intermediate) NeedsInput() bool {
	m.prepare()
	return NeedsInput(m.Dense)
}

// Forward implements Layer.
func (m *Intermediate) Forward(x *tensor.Tensor) *tensor.Tensor {
	m.prepare()
	return m.Act.Forward(m.Dense.Forward(x))
}

// Backward implements Layer. Nothing runs when Dense is frozen and no input
// gradient is wanted.
func (m *Intermediate) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if !m.prepare() {
		return nil
	}
	return m.Dense.Backward(m.Act.Backward(dy))
}

// prepare sets the children's input-gradient and keep flags for a
// Backward and reports whether it runs at all; Forward, Backward and Plan
// share it.
func (m *Intermediate) prepare() bool {
	run := m.needDX || HasTrainable(m.Dense)
	m.Act.SetInputGrad(run)
	m.Dense.SetInputGrad(run && m.needDX)
	m.Act.KeepOutput(!m.transient)
	KeepOutput(m.Dense, NeedsInput(m.Act))
	return run
}

// Plan implements Planner.
func (m *Intermediate) Plan(in []int, backward bool) Cost {
	backward = backward && m.prepare()
	c := PlanOf(m.Dense, in, backward)
	return c.Plus(m.Act.Plan(withLast(in, OutFeatures(m.Dense)), backward))
}
