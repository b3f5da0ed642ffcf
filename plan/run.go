package plan

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"

	"github.com/golora/golora/data"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/optim"
)

// Runner runs plain training steps (forward, cross-entropy, backward,
// AdamW) of a model on one fixed random batch, with every buffer counted
// by memory: the measurement the planner's Estimate is checked against.
type Runner struct {
	Model *Model
	Batch int
	opt   *optim.AdamW
	batch data.Batch
	ce    nn.CrossEntropyLoss
	step  uint64
}

// NewRunner makes the optimizer and the batch (counted as data) for m.
func NewRunner(m *Model, batch int, seed uint64) (*Runner, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("plan: batch must be positive, got %d", batch)
	}
	root := m.Root()
	before := memory.Take().Allocated[memory.Optimizer]
	opt, err := optim.NewAdamW(nn.TrainableParams(root), optim.DefaultAdamW())
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	r := &Runner{Model: m, Batch: batch, opt: opt}
	if memory.Take().Allocated[memory.Optimizer] == before {
		// optim does not report its state to memory (yet): count it here,
		// for as long as the runner lives.
		var n int64
		for k, t := range opt.StateDict() {
			if strings.HasSuffix(k, ".exp_avg") || strings.HasSuffix(k, ".exp_avg_sq") {
				n += t.Bytes()
			}
		}
		memory.Track(memory.Optimizer, n)
		runtime.AddCleanup(r, func(n int64) { memory.Track(memory.Optimizer, -n) }, n)
	}
	rng := rand.New(rand.NewPCG(seed, 0x62617463)) // "batc"
	RandomBatch(&r.batch, m.Base.Spec(), batch, rng)
	return r, nil
}

// Step runs one training step and returns its loss.
func (r *Runner) Step() (float64, error) {
	m := r.Model.Base
	nn.SetStep(m, r.step)
	r.step++
	nn.ZeroGrads(m)
	loss, err := r.ce.Forward(m.ForwardBatch(&r.batch), r.batch.Targets)
	if err != nil {
		return 0, fmt.Errorf("plan: %w", err)
	}
	m.Backward(r.ce.Backward())
	r.opt.Step()
	return loss, nil
}

// RandomBatch fills b with n random examples of spec at full length:
// standard-normal pixels or uniform token ids, uniform targets, nothing
// padded.
func RandomBatch(b *data.Batch, spec data.Spec, n int, rng *rand.Rand) {
	var targets []int32
	if spec.Text() {
		var ids []int32
		ids, _, targets = b.SetTokens(n, spec.SeqLen, spec.Rows(n), false)
		for i := range ids {
			ids[i] = int32(rng.IntN(spec.Vocab))
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
