package optim

import (
	"fmt"
	"sort"
	"strings"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Optimizer updates parameters from their gradients.
//
// Step applies one update, at the learning rate last given to SetLR, to
// every parameter that has a gradient (trainable ones); parameters without
// one are skipped and keep their state. The caller zeroes the gradients.
type Optimizer interface {
	Step()
	SetLR(lr float64)
	LR() float64
	// StateDict returns the optimizer state by name. The moment tensors
	// share storage with the live state: write them out before the next
	// Step, and do not modify them.
	StateDict() map[string]*tensor.Tensor
	// LoadStateDict replaces the state with a copy of sd, which must hold
	// exactly the keys StateDict would, with the same shapes. Nothing is
	// changed when it returns an error.
	LoadStateDict(sd map[string]*tensor.Tensor) error
}

// StateLayout is implemented by optimizers that can say what their state
// dict holds for a parameter named p: "p.<k>" tensors of the parameter's
// shape for each k of perValue (AdamW's exp_avg and exp_avg_sq), and
// one-element "p.<k>" tensors for each k of scalars (AdamW's step). This is
// what lets sharded optimizers (package zero) gather and split the state.
type StateLayout interface {
	StateKeys() (perValue, scalars []string)
}

// checkParams rejects nil parameters and empty or repeated names: state is
// keyed by name.
func checkParams(kind string, params []*nn.Param) error {
	seen := make(map[string]bool, len(params))
	for i, p := range params {
		switch {
		case p == nil:
			return fmt.Errorf("optim: %s: parameter %d is nil", kind, i)
		case p.Name == "":
			return fmt.Errorf("optim: %s: parameter %d has no name", kind, i)
		case seen[p.Name]:
			return fmt.Errorf("optim: %s: parameter %s appears twice", kind, p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

// hasGrad reports whether p has a gradient to step with. A gradient that
// does not match its f32 value is a programming error.
func hasGrad(kind string, p *nn.Param) bool {
	if p.Grad == nil {
		return false
	}
	if p.Value.DType() != tensor.F32 || p.Grad.DType() != tensor.F32 || !tensor.SameShape(p.Value.Shape(), p.Grad.Shape()) {
		panic(fmt.Sprintf("optim: %s: parameter %s is %v with gradient %v; want both f32 of one shape", kind, p.Name, p.Value, p.Grad))
	}
	return true
}

// stepTensor stores a step count as a one-element f32 tensor, as torch keeps
// state["step"]; f32 counts exactly up to 2²⁴ steps.
func stepTensor(step int) *tensor.Tensor { return tensor.FromF32([]float32{float32(step)}, 1) }

// maxStateStep is the largest step count a state dict can hold exactly.
const maxStateStep = 1 << 24

// stepFrom reads a step count written by stepTensor.
func stepFrom(kind, key string, t *tensor.Tensor) (int, error) {
	v := t.F32()[0]
	if !(v >= 0 && v <= maxStateStep) || v != float32(int(v)) {
		return 0, fmt.Errorf("optim: %s state: %q = %v is not a step count", kind, key, v)
	}
	return int(v), nil
}

// checkState verifies that sd holds exactly the keys of want, each an f32
// tensor of the wanted shape, before the caller copies anything.
func checkState(kind string, sd map[string]*tensor.Tensor, want map[string][]int) error {
	var errs []error
	for _, k := range sortedKeys(want) {
		t, ok := sd[k]
		switch {
		case !ok || t == nil:
			errs = append(errs, fmt.Errorf("missing %q", k))
		case t.DType() != tensor.F32:
			errs = append(errs, fmt.Errorf("%q is %v, want F32", k, t.DType()))
		case !tensor.SameShape(t.Shape(), want[k]):
			errs = append(errs, fmt.Errorf("%q has shape %v, want %v", k, t.Shape(), want[k]))
		}
	}
	for _, k := range sortedKeys(sd) {
		if _, ok := want[k]; !ok {
			errs = append(errs, fmt.Errorf("unexpected %q (no trainable parameter or state of that name)", k))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	const show = 5
	msgs := make([]string, 0, show+1)
	for i, e := range errs {
		if i == show {
			msgs = append(msgs, fmt.Sprintf("and %d more", len(errs)-show))
			break
		}
		msgs = append(msgs, e.Error())
	}
	return fmt.Errorf("optim: %s state does not fit the parameters: %s", kind, strings.Join(msgs, "; "))
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
