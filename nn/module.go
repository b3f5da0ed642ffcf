package nn

import (
	"fmt"

	"github.com/golora/golora/tensor"
)

// Module is a node of a model's tree.
type Module interface {
	// Name is the full Hugging Face dotted path ("" for the root).
	Name() string
	// Params are the module's own parameters, not its children's.
	Params() []*Param
	// Children are the direct sub-modules, in forward order.
	Children() []Module
}

// Layer is a module that maps the last dimension of a batch of rows, with
// an explicit backward: Linear, and wrappers of it such as a LoRA Linear.
type Layer interface {
	Module
	// Forward maps x [..., in] to y [..., out]. y is owned by the layer.
	Forward(x *tensor.Tensor) *tensor.Tensor
	// Backward takes dL/dy for the last Forward, accumulates parameter
	// gradients and returns dL/dx (owned by the layer), or nil when input
	// gradients are off.
	Backward(dy *tensor.Tensor) *tensor.Tensor
	// SetInputGrad tells the layer whether anything below needs dL/dx.
	SetInputGrad(need bool)
}

// Slot is a replaceable Layer field of a module: how PEFT methods wrap a
// Linear without reflection. Name is the full name of the layer in the slot.
type Slot struct {
	Name  string
	Layer *Layer
}

// Slotted is implemented by modules whose Layer children may be replaced.
type Slotted interface {
	Slots() []Slot
}

// Trainable is implemented by modules that behave differently in training
// (dropout): SetTraining(false) is evaluation mode.
type Trainable interface {
	SetTraining(on bool)
}

// Walk calls fn for m and every module below it, depth first in forward
// order, stopping at the first error.
func Walk(m Module, fn func(Module) error) error {
	if err := fn(m); err != nil {
		return err
	}
	for _, c := range m.Children() {
		if err := Walk(c, fn); err != nil {
			return err
		}
	}
	return nil
}

// AllParams lists every parameter of the tree in forward order.
func AllParams(m Module) []*Param {
	var ps []*Param
	_ = Walk(m, func(x Module) error {
		ps = append(ps, x.Params()...)
		return nil
	})
	return ps
}

// TrainableParams lists the trainable parameters of the tree.
func TrainableParams(m Module) []*Param {
	var ps []*Param
	for _, p := range AllParams(m) {
		if p.Trainable {
			ps = append(ps, p)
		}
	}
	return ps
}

// HasTrainable reports whether m or anything below it has a trainable parameter.
func HasTrainable(m Module) bool {
	for _, p := range AllParams(m) {
		if p.Trainable {
			return true
		}
	}
	return false
}

// SetTraining switches every module of the tree into training (on) or
// evaluation mode.
func SetTraining(m Module, on bool) {
	_ = Walk(m, func(x Module) error {
		if t, ok := x.(Trainable); ok {
			t.SetTraining(on)
		}
		return nil
	})
}

// ZeroGrads clears the gradients of all trainable parameters of the tree.
func ZeroGrads(m Module) {
	for _, p := range AllParams(m) {
		p.ZeroGrad()
	}
}

// Find returns the module with the given full name.
func Find(root Module, name string) (Module, error) {
	var found Module
	_ = Walk(root, func(x Module) error {
		if x.Name() == name {
			found = x
		}
		return nil
	})
	if found == nil {
		return nil, fmt.Errorf("nn: no module named %q", name)
	}
	return found, nil
}

// join makes a child's dotted name.
func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// Join makes a child's dotted name from its parent's ("" is the root).
func Join(prefix, name string) string { return join(prefix, name) }

// Stepper is implemented by modules with randomness (dropout). SetStep gives
// them the global training step, so a mask depends only on (module name,
// step, element): forward and backward agree without storing masks, and a
// resumed run draws exactly the masks an uninterrupted one would.
type Stepper interface {
	SetStep(step uint64)
}

// SetStep passes the training step to every Stepper of the tree.
func SetStep(m Module, step uint64) {
	_ = Walk(m, func(x Module) error {
		if s, ok := x.(Stepper); ok {
			s.SetStep(step)
		}
		return nil
	})
}

// SeedFor derives a dropout seed from a module name and a step (FNV-1a of
// the name, mixed with the step), so every module draws its own masks.
func SeedFor(name string, step uint64) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h ^ (step * 0x9e3779b97f4a7c15)
}
