package train

import (
	"fmt"
	"path/filepath"

	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// StepHooks is a PEFT method's own work around every optimizer step: the
// calls a PEFT user writes into the training loop by hand. AdaLoRA is the
// example: its regulariser's gradient joins the model's before clipping
// and its value joins the loss (PEFT adds it to outputs.loss), and after
// the update the rank allocator scores and masks singular values
// (update_and_allocate(global_step)). Set Trainer.Hooks to use them.
type StepHooks interface {
	// AfterBackward runs once per optimizer step, after the backward
	// passes of all its micro-batches and before gradient clipping; step
	// counts optimizer steps from 0. It may add to the gradients of the
	// trainable parameters; what it returns is added to the step's loss.
	AfterBackward(step int) (float64, error)
	// AfterStep runs after the optimizer update of step.
	AfterStep(step int) error
}

// StatefulHooks are hooks whose state must survive a resume for it to be
// bitwise (AdaLoRA's sensitivity averages and rank pattern): every
// checkpoint stores HookState in HooksFile, and Resume hands it back to
// LoadHookState. HookState's tensors may share storage with the live
// state; they are written before the next step.
type StatefulHooks interface {
	StepHooks
	HookState() map[string]*tensor.Tensor
	LoadHookState(map[string]*tensor.Tensor) error
}

// HooksFile is the checkpoint file of StatefulHooks' state.
const HooksFile = "hooks.safetensors"

// saveHooks writes the hooks' state into the checkpoint directory dir,
// when they have state.
func (t *Trainer) saveHooks(dir string) error {
	h, ok := t.Hooks.(StatefulHooks)
	if !ok {
		return nil
	}
	if err := safetensors.Save(filepath.Join(dir, HooksFile), h.HookState(), nil); err != nil {
		return fmt.Errorf("train: saving the step hooks' state: %w", err)
	}
	return nil
}

// loadHooks restores the hooks' state from the checkpoint directory dir.
func (t *Trainer) loadHooks(dir string) error {
	h, ok := t.Hooks.(StatefulHooks)
	if !ok {
		return nil
	}
	path := filepath.Join(dir, HooksFile)
	f, err := safetensors.Load(path)
	if err != nil {
		return fmt.Errorf("train: the step hooks need their state: %w", err)
	}
	sd := make(map[string]*tensor.Tensor, len(f.Names()))
	for _, k := range f.Names() {
		if sd[k], err = f.Tensor(k); err != nil {
			return fmt.Errorf("train: %s: %w", path, err)
		}
	}
	if err := h.LoadHookState(sd); err != nil {
		return fmt.Errorf("train: %s: %w", path, err)
	}
	return nil
}
