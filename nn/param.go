package nn

import (
	"fmt"

	"github.com/golora/golora/memory"

	"github.com/golora/golora/tensor"
)

// Param is one named parameter tensor of a model. Name is the full Hugging
// Face dotted key ("vit.encoder.layer.0.attention.attention.query.weight"),
// so checkpoint keys, target_modules and optimizer state all speak it.
//
// Grad exists only while the parameter is trainable: a frozen parameter
// costs its value's bytes and nothing else.
type Param struct {
	Name      string
	Value     *tensor.Tensor
	Grad      *tensor.Tensor // f32, Value's shape; nil unless Trainable
	Trainable bool
}

// NewParam returns a frozen parameter.
func NewParam(name string, v *tensor.Tensor) *Param { return &Param{Name: name, Value: v} }

// SetTrainable turns training on (allocating a zero f32 gradient) or off
// (dropping it). Only f32 values can be trained: a bf16, fp16 or quantised
// (int8, NF4) frozen weight is a base for adapters, not trained itself.
func (p *Param) SetTrainable(on bool) error {
	if !on {
		p.Trainable, p.Grad = false, nil
		return nil
	}
	if p.Value.DType() != tensor.F32 {
		return fmt.Errorf("nn: parameter %s is stored as %v; only f32 parameters can be trained (a %v base is for adapters such as LoRA)", p.Name, p.Value.DType(), p.Value.DType())
	}
	if p.Grad == nil {
		p.Grad = memory.Tensor(memory.Gradients, p.Value.Shape()...)
	}
	p.Trainable = true
	return nil
}

// ZeroGrad clears the gradient, if any.
func (p *Param) ZeroGrad() {
	if p.Grad != nil {
		clear(p.Grad.F32())
	}
}

// Len is the number of values.
func (p *Param) Len() int { return p.Value.Len() }
