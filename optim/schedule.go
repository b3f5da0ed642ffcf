package optim

import (
	"fmt"
	"math"
)

// Schedule is a learning-rate schedule of Hugging Face's get_scheduler: the
// learning rate of the update numbered step (counting from 0, i.e. after
// step updates) is the base rate times Multiplier(step), exactly as
// torch.optim.lr_scheduler.LambdaLR applies the transformers lambdas.
type Schedule struct {
	Kind        string // "constant", "constant_with_warmup", "linear" or "cosine"
	WarmupSteps int
	TotalSteps  int     // linear and cosine decay to 0 at TotalSteps
	NumCycles   float64 // cosine only; 0.5 is the half cosine down to 0
}

// ScheduleKinds lists the supported Kind values.
var ScheduleKinds = []string{"constant", "constant_with_warmup", "linear", "cosine"}

// NewSchedule checks and returns a schedule of the given kind, with
// NumCycles 0.5 for cosine as get_scheduler does. As there, "constant"
// ignores warmupSteps.
func NewSchedule(kind string, warmupSteps, totalSteps int) (Schedule, error) {
	s := Schedule{Kind: kind, WarmupSteps: warmupSteps, TotalSteps: totalSteps, NumCycles: 0.5}
	return s, s.check()
}

func (s Schedule) check() error {
	switch s.Kind {
	case "constant", "constant_with_warmup":
	case "linear", "cosine":
		if s.TotalSteps <= 0 {
			return fmt.Errorf("optim: %s schedule needs the number of training steps, got %d", s.Kind, s.TotalSteps)
		}
	default:
		return fmt.Errorf("optim: unknown learning-rate schedule %q (want one of %v)", s.Kind, ScheduleKinds)
	}
	if s.WarmupSteps < 0 {
		return fmt.Errorf("optim: negative warmup steps %d", s.WarmupSteps)
	}
	if s.Kind == "cosine" && (math.IsNaN(s.NumCycles) || math.IsInf(s.NumCycles, 0)) {
		return fmt.Errorf("optim: invalid number of cosine cycles %v", s.NumCycles)
	}
	return nil
}

// Multiplier returns the factor on the base learning rate for the update
// numbered step (from 0). The formulas are transformers'
// _get_*_schedule_with_warmup_lr_lambda, in the same float64 operations:
//
//	warmup (step < W):  step / max(1, W)
//	linear:             max(0, (T − step) / max(1, T − W))
//	cosine:             max(0, ½·(1 + cos(π·cycles·2·(step − W)/max(1, T − W))))
//
// so with warmup the first update runs at rate 0, as in the Trainer.
func (s Schedule) Multiplier(step int) float64 {
	if s.Kind == "constant" {
		return 1
	}
	if step < s.WarmupSteps {
		return float64(step) / float64(max(1, s.WarmupSteps))
	}
	decay := float64(max(1, s.TotalSteps-s.WarmupSteps))
	switch s.Kind {
	case "linear":
		return max(0, float64(s.TotalSteps-step)/decay)
	case "cosine":
		progress := float64(step-s.WarmupSteps) / decay
		return max(0, 0.5*(1+math.Cos(math.Pi*s.NumCycles*2*progress)))
	}
	return 1 // constant_with_warmup after the warmup
}

// WarmupSteps resolves the warmup length as transformers'
// TrainingArguments.get_warmup_steps: warmupSteps when positive, else
// ceil(warmupRatio·totalSteps). The ratio must lie in [0, 1].
func WarmupSteps(totalSteps, warmupSteps int, warmupRatio float64) (int, error) {
	switch {
	case warmupSteps < 0:
		return 0, fmt.Errorf("optim: negative warmup steps %d", warmupSteps)
	case !(warmupRatio >= 0 && warmupRatio <= 1):
		return 0, fmt.Errorf("optim: warmup ratio %v outside [0, 1]", warmupRatio)
	case warmupSteps > 0:
		return warmupSteps, nil
	}
	return int(math.Ceil(float64(totalSteps) * warmupRatio)), nil
}
