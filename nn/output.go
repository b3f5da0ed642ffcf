package nn

import "github.com/golora/golora/tensor"

// Output is a dense Linear followed by dropout: Hugging Face's
// ViTSelfOutput ("attention.output") and the dense part of ViTOutput
// ("output"). The residual connection is added by the caller, as ViTLayer
// does.
type Output struct {
	name string
	// Dense is a slot ("<name>.dense").
	Dense   Layer
	Dropout *Dropout

	needDX, transient bool
}

// NewOutput returns an Output with a zero Linear in→out (with bias) and
// dropout p.
func NewOutput(name string, in, out int, p float32, seed uint64) *Output {
	return &Output{
		name: name, needDX: true,
		Dense:   NewLinear(join(name, "dense"), in, out, true),
		Dropout: NewDropout(join(name, "dropout"), p, seed),
	}
}

// Name implements Module.
func (o *Output) Name() string { return o.name }

// Params implements Module.
func (o *Output) Params() []*Param { return nil }

// Children implements Module.
func (o *Output) Children() []Module { return []Module{o.Dense, o.Dropout} }

// Slots implements Slotted.
func (o *Output) Slots() []Slot { return []Slot{{Name: o.Dense.Name(), Layer: &o.Dense}} }

// SetInputGrad implements Layer.
func (o *Output) SetInputGrad(need bool) { o.needDX = need }

// KeepOutput implements OutputKeeper.
func (o *Output) KeepOutput(keep bool) { o.transient = !keep }

// NeedsInput implements InputReader.
func (o *Output) NeedsInput() bool {
	o.prepare()
	return NeedsInput(o.Dense)
}

// Forward implements Layer.
func (o *Output) Forward(x *tensor.Tensor) *tensor.Tensor {
	o.prepare()
	return o.Dropout.Forward(o.Dense.Forward(x))
}

// Backward implements Layer. Nothing runs when Dense is frozen and no input
// gradient is wanted.
func (o *Output) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if !o.prepare() {
		return nil
	}
	return o.Dense.Backward(o.Dropout.Backward(dy))
}

// prepare sets the children's input-gradient and keep flags for a
// Backward and reports whether it runs at all; Forward, Backward and Plan
// share it.
func (o *Output) prepare() bool {
	run := o.needDX || HasTrainable(o.Dense)
	o.Dropout.SetInputGrad(run)
	o.Dense.SetInputGrad(run && o.needDX)
	o.Dropout.KeepOutput(!o.transient)
	KeepOutput(o.Dense, NeedsInput(o.Dropout))
	return run
}

// Plan implements Planner.
func (o *Output) Plan(in []int, backward bool) Cost {
	backward = backward && o.prepare()
	c := PlanOf(o.Dense, in, backward)
	return c.Plus(o.Dropout.Plan(withLast(in, OutFeatures(o.Dense)), backward))
}
