package plan

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/data"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/optim"
	"github.com/golora/golora/zero"
)

// Runner runs plain training steps (forward, cross-entropy, backward,
// AdamW, and the method's step hooks, e.g. AdaLoRA's) of a model on one
// fixed random batch, with every buffer counted by memory: the
// measurement the planner's Estimate is checked against.
// With several ranks (NewRunnerOn) a step is data-parallel, with the
// collective work the Trainer does (package zero at m.Parallel's stage),
// one micro-batch a step.
type Runner struct {
	Model *Model
	Batch int
	eng   *zero.Engine
	batch data.Batch
	ce    nn.CrossEntropyLoss
	step  uint64
}

// NewRunner makes the optimizer and the batch (counted as data) for m.
func NewRunner(m *Model, batch int, seed uint64) (*Runner, error) {
	return NewRunnerOn(collective.Local{}, m, batch, seed)
}

// NewRunnerOn is NewRunner for rank c.Rank() of c.Size() data-parallel
// ranks (each draws its own batch), which must be m.Parallel's world size.
func NewRunnerOn(c collective.Comm, m *Model, batch int, seed uint64) (*Runner, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("plan: batch must be positive, got %d", batch)
	}
	if c.Size() != m.Parallel.world() {
		return nil, fmt.Errorf("plan: %d ranks for a setup of %d", c.Size(), m.Parallel.world())
	}
	root := m.Root()
	before := memory.Take().Allocated[memory.Optimizer]
	eng, err := zero.New(c, root, zero.Config{Stage: m.Parallel.ZeroStage, NewOptimizer: func(ps []*nn.Param) (optim.Optimizer, error) {
		return optim.NewAdamW(ps, optim.DefaultAdamW())
	}})
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	r := &Runner{Model: m, Batch: batch, eng: eng}
	if memory.Take().Allocated[memory.Optimizer] == before {
		// optim does not report its state to memory (yet): count it here,
		// for as long as the runner lives.
		var n int64
		for k, t := range eng.Optimizer().StateDict() {
			if strings.HasSuffix(k, ".exp_avg") || strings.HasSuffix(k, ".exp_avg_sq") {
				n += t.Bytes()
			}
		}
		memory.Track(memory.Optimizer, n)
		runtime.AddCleanup(r, func(n int64) { memory.Track(memory.Optimizer, -n) }, n)
	}
	nn.SetBatchShard(root, c.Rank())
	rng := rand.New(rand.NewPCG(seed+uint64(c.Rank()), 0x62617463)) // "batc"
	RandomBatch(&r.batch, m.Base.Spec(), batch, rng)
	return r, nil
}

// Close detaches the runner from the model (ZeRO-2's backward hook).
func (r *Runner) Close() { r.eng.Close() }

// Step runs one training step and returns its loss (this rank's).
func (r *Runner) Step() (float64, error) {
	m, step := r.Model.Base, int(r.step)
	nn.SetStep(m, r.step)
	r.step++
	hooks := r.Model.Hooks()
	r.eng.ZeroGrad()
	loss, err := r.ce.Forward(m.ForwardBatch(&r.batch), r.batch.Targets)
	if err != nil {
		return 0, fmt.Errorf("plan: %w", err)
	}
	m.Backward(r.ce.Backward())
	if err := r.eng.EndBackward(); err != nil {
		return 0, fmt.Errorf("plan: %w", err)
	}
	if r.eng.Comm().Size() > 1 {
		// What the Trainer does besides: the loss sum, the reduction, the
		// global gradient norm.
		if err := r.eng.SumScalars([]float64{loss, 0}); err != nil {
			return 0, fmt.Errorf("plan: %w", err)
		}
		if err := r.eng.Reduce(); err != nil {
			return 0, fmt.Errorf("plan: %w", err)
		}
	}
	if hooks != nil { // where the Trainer calls them: on the reduced gradient, before clipping
		extra, err := hooks.AfterBackward(step)
		if err != nil {
			return 0, fmt.Errorf("plan: %w", err)
		}
		loss += extra
	}
	if r.eng.Comm().Size() > 1 {
		if _, err := r.eng.ClipGradNorm(0); err != nil {
			return 0, fmt.Errorf("plan: %w", err)
		}
	}
	if err := r.eng.Step(r.eng.Optimizer().LR()); err != nil {
		return 0, fmt.Errorf("plan: %w", err)
	}
	if hooks != nil {
		if err := hooks.AfterStep(step); err != nil {
			return 0, fmt.Errorf("plan: %w", err)
		}
	}
	return loss, nil
}

// RandomBatch fills b with n random examples of spec at full length:
// standard-normal pixels or uniform token ids with an attention mask of
// ones (nothing padded, but the mask a padded batch carries, as
// spec.Bytes counts it), uniform targets.
func RandomBatch(b *data.Batch, spec data.Spec, n int, rng *rand.Rand) {
	var targets []int32
	if spec.Text() {
		var ids, mask []int32
		ids, mask, targets = b.SetTokens(n, spec.SeqLen, spec.Rows(n), true)
		for i := range ids {
			ids[i], mask[i] = int32(rng.IntN(spec.Vocab)), 1
		}
	} else {
		var pix []float32
		pix, targets = b.SetImages(n, spec.Channels, spec.Height, spec.Width)
		for i := range pix {
			pix[i] = float32(rng.NormFloat64())
		}
	}
	for i := range targets {
		targets[i] = int32(rng.IntN(spec.Classes))
	}
}
