package train

import (
	"fmt"
	"math"

	"github.com/golora/golora/optim"
)

// Args configures a run. Field names follow Hugging Face's
// TrainingArguments (learning_rate is LearningRate, and so on); defaults
// (DefaultArgs) are HF's where golora has the same knob.
type Args struct {
	OutputDir string // where checkpoints, metrics.jsonl and the chart go

	LearningRate              float64 // peak learning rate
	PerDeviceTrainBatchSize   int     // examples per micro-batch
	PerDeviceEvalBatchSize    int     // examples per evaluation batch
	GradientAccumulationSteps int     // micro-batches per optimizer step
	NumTrainEpochs            float64 // used when MaxSteps <= 0
	MaxSteps                  int     // optimizer steps; > 0 overrides NumTrainEpochs

	LRSchedulerType string  // "linear", "cosine", "constant", "constant_with_warmup"
	WarmupSteps     int     // overrides WarmupRatio when > 0
	WarmupRatio     float64 // fraction of MaxSteps spent warming up

	Optim       string  // "adamw" (torch semantics) or "sgd"
	WeightDecay float64 // decoupled (AdamW) weight decay
	AdamBeta1   float64
	AdamBeta2   float64
	AdamEpsilon float64
	Momentum    float64 // SGD only
	MaxGradNorm float64 // global-norm clipping; <= 0 disables it

	// ZeroStage shards data-parallel training as DeepSpeed's
	// zero_optimization.stage: 0 replicates everything, 1 shards the
	// optimizer state over the ranks, 2 the gradients too (package zero).
	// It changes nothing with one rank.
	ZeroStage int

	Seed uint64 // data order (and, by the caller, initialisation)

	LoggingSteps int // a metrics line every this many steps (0: none)
	EvalSteps    int // evaluate every this many steps (0: only at the end)
	SaveSteps    int // checkpoint every this many steps (0: none)

	Quiet bool // no progress output at all
}

// DefaultArgs returns HF's TrainingArguments defaults (learning rate 5e-5,
// batch 8, 3 epochs, linear schedule, AdamW 0.9/0.999/1e-8, clipping at
// 1.0, seed 42, logging and saving every 500 steps).
func DefaultArgs() Args {
	return Args{
		LearningRate:              5e-5,
		PerDeviceTrainBatchSize:   8,
		PerDeviceEvalBatchSize:    8,
		GradientAccumulationSteps: 1,
		NumTrainEpochs:            3,
		LRSchedulerType:           "linear",
		Optim:                     "adamw",
		AdamBeta1:                 0.9,
		AdamBeta2:                 0.999,
		AdamEpsilon:               1e-8,
		MaxGradNorm:               1,
		Seed:                      42,
		LoggingSteps:              500,
		SaveSteps:                 500,
	}
}

// Validate checks the arguments, naming the field at fault in HF's words.
func (a *Args) Validate() error {
	bad := func(name string, v any, want string) error {
		return fmt.Errorf("train: %s is %v; %s", name, v, want)
	}
	switch {
	case !(a.LearningRate >= 0) || math.IsInf(a.LearningRate, 0):
		return bad("learning_rate", a.LearningRate, "want a finite value >= 0")
	case a.PerDeviceTrainBatchSize < 1:
		return bad("per_device_train_batch_size", a.PerDeviceTrainBatchSize, "want >= 1")
	case a.PerDeviceEvalBatchSize < 1:
		return bad("per_device_eval_batch_size", a.PerDeviceEvalBatchSize, "want >= 1")
	case a.GradientAccumulationSteps < 1:
		return bad("gradient_accumulation_steps", a.GradientAccumulationSteps, "want >= 1")
	case a.MaxSteps <= 0 && !(a.NumTrainEpochs > 0):
		return bad("num_train_epochs", a.NumTrainEpochs, "want > 0 (or set max_steps)")
	case a.WarmupSteps < 0:
		return bad("warmup_steps", a.WarmupSteps, "want >= 0")
	case !(a.WarmupRatio >= 0 && a.WarmupRatio <= 1):
		return bad("warmup_ratio", a.WarmupRatio, "want a value in [0, 1]")
	case !(a.WeightDecay >= 0):
		return bad("weight_decay", a.WeightDecay, "want >= 0")
	case math.IsNaN(a.MaxGradNorm):
		return bad("max_grad_norm", a.MaxGradNorm, "want a number")
	case a.LoggingSteps < 0:
		return bad("logging_steps", a.LoggingSteps, "want >= 0")
	case a.EvalSteps < 0:
		return bad("eval_steps", a.EvalSteps, "want >= 0")
	case a.SaveSteps < 0:
		return bad("save_steps", a.SaveSteps, "want >= 0")
	case a.ZeroStage < 0 || a.ZeroStage > 2:
		return bad("zero_stage", a.ZeroStage, "want 0, 1 or 2")
	}
	switch a.LRSchedulerType {
	case "linear", "cosine", "constant", "constant_with_warmup":
	default:
		return bad("lr_scheduler_type", fmt.Sprintf("%q", a.LRSchedulerType), `want "linear", "cosine", "constant" or "constant_with_warmup"`)
	}
	switch a.Optim {
	case "adamw":
		if !(a.AdamBeta1 >= 0 && a.AdamBeta1 < 1) || !(a.AdamBeta2 >= 0 && a.AdamBeta2 < 1) {
			return bad("adam_beta1/adam_beta2", fmt.Sprintf("%v/%v", a.AdamBeta1, a.AdamBeta2), "want values in [0, 1)")
		}
		if !(a.AdamEpsilon > 0) {
			return bad("adam_epsilon", a.AdamEpsilon, "want > 0")
		}
	case "sgd":
		if !(a.Momentum >= 0 && a.Momentum < 1) {
			return bad("momentum", a.Momentum, "want a value in [0, 1)")
		}
	default:
		return bad("optim", fmt.Sprintf("%q", a.Optim), `want "adamw" or "sgd"`)
	}
	if a.OutputDir == "" && a.SaveSteps > 0 {
		return fmt.Errorf("train: save_steps is %d but output_dir is empty", a.SaveSteps)
	}
	return nil
}

// StepsPerEpoch is the number of optimizer steps one pass over n examples
// makes in one process. The last incomplete batch of an epoch is dropped
// (HF's dataloader_drop_last), so every step sees the same number of
// examples.
func (a *Args) StepsPerEpoch(n int) int { return a.StepsPerEpochOn(n, 1) }

// StepsPerEpochOn is StepsPerEpoch on world data-parallel ranks, whose
// steps take world times as many examples.
func (a *Args) StepsPerEpochOn(n, world int) int {
	return n / (a.PerDeviceTrainBatchSize * a.GradientAccumulationSteps * world)
}

// TotalSteps is the run's number of optimizer steps for n training
// examples in one process: MaxSteps if set, else
// ceil(NumTrainEpochs · StepsPerEpoch).
func (a *Args) TotalSteps(n int) int { return a.TotalStepsOn(n, 1) }

// TotalStepsOn is TotalSteps on world data-parallel ranks.
func (a *Args) TotalStepsOn(n, world int) int {
	if a.MaxSteps > 0 {
		return a.MaxSteps
	}
	return int(math.Ceil(a.NumTrainEpochs * float64(a.StepsPerEpochOn(n, world))))
}

// Warmup is the number of warm-up steps for a run of total steps (HF's
// get_warmup_steps: warmup_steps if > 0, else ceil(ratio · total)).
func (a *Args) Warmup(total int) int {
	w, err := optim.WarmupSteps(total, a.WarmupSteps, a.WarmupRatio)
	if err != nil {
		return 0 // Validate reports the field
	}
	return w
}
