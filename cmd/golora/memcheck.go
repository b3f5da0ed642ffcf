package main

import (
	"fmt"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/plan"
)

// checkTrainStep checks, before a run allocates its step buffers, that
// what the planner predicts is still to come for a step of batch (the
// activations, workspace, the batch itself and the optimizer state; the
// weights and gradients are allocated already) and for an evaluation
// forward of evalBatch fits in the memory available. The prediction is
// the planner's (plan.Model.Estimate), which agrees with the measured
// accounting; the runtime's own overhead is not counted. With data
// parallelism (m.Parallel) it is one rank's, whose gradients are still to
// come too (the data-parallel buffers replace the parameters' own).
func checkTrainStep(m *plan.Model, batch, evalBatch int) error {
	b := m.Estimate(batch).Bytes
	need := sizecheck.Add(b[memory.Activations], b[memory.Workspace], b[memory.Data], b[memory.Optimizer])
	if m.Parallel.WorldSize > 1 {
		need = sizecheck.Add(need, b[memory.Gradients])
	}
	if err := sizecheck.Memory(fmt.Sprintf("a training step of batch %d through %s", batch, m.Base), need); err != nil {
		return err
	}
	if evalBatch > 0 {
		return checkForward(m.Base, evalBatch, 0)
	}
	return nil
}

// checkForward checks that a forward of batch examples through m, and an
// input buffer of inputs examples, fit in the memory available.
func checkForward(m models.Model, batch, inputs int) error {
	t := m.PlanBatch(batch, false).Total()
	need := sizecheck.Add(t[memory.Activations], t[memory.Workspace], m.Spec().Bytes(max(batch, inputs)))
	return sizecheck.Memory(fmt.Sprintf("a forward of batch %d through %s", batch, m), need)
}

// checkFullTraining checks, before full fine-tuning allocates them, that
// the gradients and AdamW's two moments of every parameter of m (three f32
// copies of its values) fit in the memory available.
func checkFullTraining(m nn.Module) error {
	var n int64
	for _, p := range nn.AllParams(m) {
		n = sizecheck.Add(n, int64(p.Len()))
	}
	return sizecheck.Memory(fmt.Sprintf("full training of %s parameters (gradients and AdamW's two moments in f32)", sizecheck.Count(n)),
		sizecheck.Mul(12, n))
}
