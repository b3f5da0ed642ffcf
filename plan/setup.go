package plan

import (
	"fmt"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/adalora"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/tensor"
	"github.com/golora/golora/train"
	"github.com/golora/golora/zero"
)

// Source makes a setup's base model: zero weights (LayerNorms at one) for
// planning, or initialised (random) for measuring; seed fixes the weights
// and dropout masks.
type Source func(random bool, seed uint64) (models.Model, error)

// FromPreset is the Source of a registered preset (models.PresetNames).
func FromPreset(name string) (Source, error) {
	if _, err := models.Preset(name, false, 1); err != nil {
		return nil, err
	}
	return func(random bool, seed uint64) (models.Model, error) { return models.Preset(name, random, seed) }, nil
}

// FromConfigFile is the Source of a config.json (or of the model
// directory holding it), checked once here.
func FromConfigFile(path string) (Source, error) {
	if _, err := models.FromConfigFile(path, false, 1); err != nil {
		return nil, err
	}
	return func(random bool, seed uint64) (models.Model, error) { return models.FromConfigFile(path, random, seed) }, nil
}

// Setup is a base model and a training method.
type Setup struct {
	Base Source
	// Method is "full" (every parameter trains), "lora" or "adalora".
	Method string
	// LoRA configures the adapters when Method is "lora".
	LoRA lora.Config
	// AdaLoRA configures the adapters when Method is "adalora": injected
	// at init_r, which they keep while training (the allocator masks
	// singular values, it does not resize).
	AdaLoRA adalora.Config
	// BaseDType stores the frozen Linear weights: f32, bf16, fp16, int8 or
	// NF4 (LoRA and AdaLoRA only; see models.StoreBase).
	BaseDType tensor.DType
	// DoubleQuant also quantises NF4's block scales (QLoRA's double
	// quantisation).
	DoubleQuant bool
	// GradientCheckpointing recomputes each block's forward in the backward.
	GradientCheckpointing bool
	// Parallel is data-parallel training (zero value: one process).
	Parallel Parallel
	// SeqLen is the tokens per example of a model that reads sequences
	// (models.SeqLener): what its Spec, PlanBatch and the batches of a
	// Runner use. 0 leaves the model's own (its full length).
	SeqLen int
}

// Parallel is data-parallel training on WorldSize ranks (0 or 1: one
// process) with ZeRO stage ZeroStage (package zero), and
// GradientAccumulationSteps micro-batches a step (ZeRO-2 reduces after
// each).
type Parallel struct {
	WorldSize                 int
	ZeroStage                 int
	GradientAccumulationSteps int
}

// world is the number of ranks (at least one).
func (p Parallel) world() int { return max(p.WorldSize, 1) }

// Check reports a parallel setup golora cannot run.
func (p Parallel) Check() error {
	switch {
	case p.WorldSize < 0:
		return fmt.Errorf("plan: world size %d, want >= 1", p.WorldSize)
	case p.ZeroStage < 0 || p.ZeroStage > 2:
		return fmt.Errorf("plan: ZeRO stage %d, want 0, 1 or 2", p.ZeroStage)
	case p.GradientAccumulationSteps < 0:
		return fmt.Errorf("plan: %d gradient accumulation steps, want >= 1", p.GradientAccumulationSteps)
	}
	return nil
}

// Storage is how the setup stores its frozen Linear weights.
func (s Setup) Storage() nn.Storage {
	return nn.Storage{DType: s.BaseDType, DoubleQuant: s.DoubleQuant}
}

// Methods are the valid values of Setup.Method.
var Methods = []string{"full", "lora", "adalora"}

// DefaultLoRA is golora's benchmark LoRA for m: r 16, alpha 16 on the
// family's default targets (PEFT's, e.g. query and value), and the
// classification head saved when m has one.
func DefaultLoRA(m models.Model) lora.Config {
	c := lora.DefaultConfig()
	c.R, c.LoraAlpha = 16, 16
	if f, err := models.FamilyOfType(m.ModelType()); err == nil {
		c.TargetModules = lora.TargetList(f.LoRATargets...)
	}
	if _, ok := m.(models.Classifier); ok && m.OutputHead() != "" {
		c.ModulesToSave = []string{m.OutputHead()}
	}
	return c
}

// Model is a model set up for a method: the base, and its LoRA or AdaLoRA
// wrapper, trained on Parallel's ranks.
type Model struct {
	Base     models.Model
	LoRA     *lora.Model    // set for LoRA
	AdaLoRA  *adalora.Model // set for AdaLoRA
	Parallel Parallel
}

// Hooks are the method's own calls around every optimizer step, as
// train.Trainer.Hooks takes them: AdaLoRA's regulariser and rank
// allocator; nil for the other methods.
func (m *Model) Hooks() train.StepHooks {
	if m.AdaLoRA != nil {
		return m.AdaLoRA
	}
	return nil
}

// Build makes the module tree of s with its method applied: for "full",
// every parameter trains; for "lora" and "adalora", adapters are injected
// (AdaLoRA's at init_r); frozen Linear
// weights are converted to BaseDType; checkpointing is switched on. The
// weights are zero (LayerNorms one) unless random; seed fixes adapters and
// dropout masks.
func Build(s Setup, random bool, seed uint64) (*Model, error) {
	if s.Base == nil {
		return nil, fmt.Errorf("plan: the setup has no base model")
	}
	m, err := s.Base(random, seed)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return Apply(s, m, seed)
}

// Apply sets up the existing model m for s's method (see Build).
func Apply(s Setup, m models.Model, seed uint64) (*Model, error) {
	if err := s.Parallel.Check(); err != nil {
		return nil, err
	}
	if err := s.Storage().Validate(); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if s.Method == "full" && s.BaseDType != tensor.F32 {
		return nil, fmt.Errorf("plan: full fine-tuning trains every weight, in f32; a %v base is for LoRA", s.Storage())
	}
	if s.Method == "adalora" && s.Parallel.world() > 1 && s.Parallel.ZeroStage > 0 {
		return nil, fmt.Errorf("plan: AdaLoRA's regulariser and rank allocator work on the whole gradient, which ZeRO stage %d shards over the ranks: use ZeRO stage 0", s.Parallel.ZeroStage)
	}
	if s.SeqLen != 0 {
		sl, ok := m.(models.SeqLener)
		if !ok {
			return nil, fmt.Errorf("plan: %s has no sequence length to set", m)
		}
		if err := sl.SetSeqLen(s.SeqLen); err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
	}
	out := &Model{Base: m, Parallel: s.Parallel}
	switch s.Method {
	case "full":
		for _, p := range nn.AllParams(m) {
			if err := p.SetTrainable(true); err != nil {
				return nil, fmt.Errorf("plan: full fine-tuning: %w", err)
			}
		}
	case "lora":
		lm, err := lora.Inject(m, s.LoRA, seed)
		if err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
		out.LoRA = lm
	case "adalora":
		am, err := adalora.Inject(m, s.AdaLoRA, seed)
		if err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
		out.AdaLoRA = am
	default:
		return nil, fmt.Errorf("plan: unknown method %q (want full, lora or adalora)", s.Method)
	}
	if s.BaseDType != tensor.F32 {
		if _, err := models.StoreBase(m, s.Storage()); err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
	}
	m.SetGradientCheckpointing(s.GradientCheckpointing)
	return out, nil
}

// Root is the module tree.
func (m *Model) Root() nn.Module { return m.Base }

// Estimate is the predicted cost of one training step, for one rank.
type Estimate struct {
	// Bytes per category that the rank holds: with data parallelism its
	// sharded gradients and optimizer state.
	Bytes memory.Bytes
	// Comm is what the rank's collective operations send in one optimizer
	// step (package zero's StepTraffic); zero in one process.
	Comm collective.ByOp
	// World and Rank are the data-parallel ranks and the rank estimated.
	World, Rank int
	// Values counts parameter values (not bytes) in each weight category,
	// e.g. to compare NF4 bytes with what the same values take in f32.
	Values memory.Bytes
	// GEMM FLOPs: forward (with recomputation), backward to activations,
	// backward to weights; and of their sum, attention's and LoRA's.
	Forward, BackwardDX, BackwardDW int64
	Attention, LowRank              int64
	// TrainableValues are the values AdamW updates.
	TrainableValues int64
	// Ops is every kernel call of a step, counted per distinct op: the
	// model's forward and backward, the loss, clearing the gradients and
	// AdamW. StepMS times them on this machine.
	Ops map[nn.Op]int64
}

// TotalBytes is the sum over the categories.
func (e Estimate) TotalBytes() int64 { return e.Bytes.Total() }

// FLOPs is the GEMM FLOPs of one step.
func (e Estimate) FLOPs() int64 { return e.Forward + e.BackwardDX + e.BackwardDW }

// AdamStateBytes is AdamW's state per trainable value (exp_avg and
// exp_avg_sq in f32).
const AdamStateBytes = 8

// Estimate predicts one training step with AdamW on a batch of the given
// size (at the model's sequence length, Setup.SeqLen): parameter values
// by dtype, a gradient and Adam's two moments per trainable value, what
// the modules declare for forward, cross-entropy and backward, what the
// method's step hooks hold
// (AdaLoRA's rank allocator and regulariser, adalora.Model.HookBytes), and
// the batch itself. With data parallelism it is rank 0's share, the
// largest.
func (m *Model) Estimate(batch int) Estimate { return m.EstimateRank(batch, 0) }

// EstimateRank is Estimate for one data-parallel rank: its gradient values
// (all, or at ZeRO-2 the largest part of the model plus its shares) and
// optimizer state (all, or from ZeRO-1 its shares), and its traffic.
func (m *Model) EstimateRank(batch, rank int) Estimate {
	world := m.Parallel.world()
	e := Estimate{World: world, Rank: rank}
	var step nn.Cost // zeroing the gradients, AdamW
	for _, p := range nn.AllParams(m.Base) {
		c := memory.WeightsOf(p.Value.DType())
		e.Bytes[c] += p.Value.Bytes()
		e.Values[c] += int64(p.Len())
		if p.Trainable {
			e.TrainableValues += int64(p.Len())
			step.Ran(nn.Elementwise(nn.OpClear, p.Len()))
			if world == 1 {
				step.Ran(nn.Elementwise(nn.OpAdamW, p.Len()))
			}
		}
	}
	l, err := zero.NewLayout(m.Base, world)
	if err != nil || rank < 0 || rank >= world {
		panic(fmt.Sprintf("plan: rank %d of %d ranks", rank, world)) // Apply checked the world
	}
	stage := m.Parallel.ZeroStage
	e.Bytes[memory.Gradients] = 4 * int64(l.GradientValues(stage, rank))
	e.Bytes[memory.Optimizer] = AdamStateBytes * int64(l.OptimizerValues(stage, rank))
	e.Comm = l.StepTraffic(stage, max(m.Parallel.GradientAccumulationSteps, 1))
	if world > 1 { // the rank's share of the values, as one call (an approximation)
		step.Ran(nn.Elementwise(nn.OpAdamW, int(l.OptimizerValues(stage, rank))))
	}
	spec := m.Base.Spec()
	var ce nn.CrossEntropyLoss
	k := m.Base.PlanBatch(batch, true).Plus(ce.Plan([]int{spec.Rows(batch), spec.Classes}, true))
	t := k.Total()
	e.Bytes[memory.Activations] = t[memory.Activations]
	e.Bytes[memory.Workspace] = t[memory.Workspace]
	e.Bytes[memory.Data] = spec.Bytes(batch)
	if m.AdaLoRA != nil { // every rank keeps the whole state (ZeRO-0)
		e.Bytes = e.Bytes.Add(m.AdaLoRA.HookBytes())
	}
	e.Forward, e.BackwardDX, e.BackwardDW = k.Forward, k.BackwardDX, k.BackwardDW
	e.Attention, e.LowRank = k.Attention, k.LowRank
	e.Ops = nn.AddOps(k.Ops, step.Ops)
	return e
}

// Predict builds s (zero weights) and estimates a step of the given batch.
func Predict(s Setup, batch int) (Estimate, error) {
	m, err := Build(s, false, 1)
	if err != nil {
		return Estimate{}, err
	}
	return m.Estimate(batch), nil
}

// MaxBatch is the largest batch whose predicted bytes fit in budget, found
// by binary search over Estimate; 0 when not even one image fits.
func (m *Model) MaxBatch(budget int64) int {
	fits := func(b int) bool { return m.Estimate(b).TotalBytes() <= budget }
	if !fits(1) {
		return 0
	}
	lo, hi := 1, 2 // fits(lo), and hi is to be tested
	for fits(hi) {
		lo, hi = hi, 2*hi
		if hi > 1<<24 {
			return lo
		}
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}
