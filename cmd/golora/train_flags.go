package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
	"github.com/golora/golora/train"
)

// addTrainArgs registers the Hugging Face TrainingArguments flags (with
// dashes for underscores) onto fs, writing into a.
func addTrainArgs(fs *flag.FlagSet, a *train.Args) {
	fs.Float64Var(&a.LearningRate, "learning-rate", a.LearningRate, "peak learning rate (learning_rate)")
	fs.IntVar(&a.PerDeviceTrainBatchSize, "per-device-train-batch-size", a.PerDeviceTrainBatchSize, "examples per micro-batch")
	fs.IntVar(&a.PerDeviceEvalBatchSize, "per-device-eval-batch-size", a.PerDeviceEvalBatchSize, "examples per evaluation batch")
	fs.IntVar(&a.GradientAccumulationSteps, "gradient-accumulation-steps", a.GradientAccumulationSteps, "micro-batches per optimizer step")
	fs.Float64Var(&a.NumTrainEpochs, "num-train-epochs", a.NumTrainEpochs, "epochs (used when --max-steps is 0)")
	fs.IntVar(&a.MaxSteps, "max-steps", a.MaxSteps, "optimizer steps; > 0 overrides --num-train-epochs")
	fs.StringVar(&a.LRSchedulerType, "lr-scheduler-type", a.LRSchedulerType, "linear, cosine, constant or constant_with_warmup")
	fs.IntVar(&a.WarmupSteps, "warmup-steps", a.WarmupSteps, "warm-up steps (overrides --warmup-ratio)")
	fs.Float64Var(&a.WarmupRatio, "warmup-ratio", a.WarmupRatio, "fraction of the steps spent warming up")
	fs.StringVar(&a.Optim, "optim", a.Optim, "adamw or sgd")
	fs.Float64Var(&a.WeightDecay, "weight-decay", a.WeightDecay, "decoupled weight decay")
	fs.Float64Var(&a.AdamBeta1, "adam-beta1", a.AdamBeta1, "AdamW beta1")
	fs.Float64Var(&a.AdamBeta2, "adam-beta2", a.AdamBeta2, "AdamW beta2")
	fs.Float64Var(&a.AdamEpsilon, "adam-epsilon", a.AdamEpsilon, "AdamW epsilon")
	fs.Float64Var(&a.Momentum, "momentum", a.Momentum, "SGD momentum")
	fs.Float64Var(&a.MaxGradNorm, "max-grad-norm", a.MaxGradNorm, "global gradient-norm clipping (0: off)")
	fs.Func("seed", fmt.Sprintf("random seed: data order, initialisation, dropout (default %d)", a.Seed), func(s string) error {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not a non-negative integer")
		}
		a.Seed = v
		return nil
	})
	fs.IntVar(&a.LoggingSteps, "logging-steps", a.LoggingSteps, "log metrics every this many steps (0: never)")
	fs.IntVar(&a.EvalSteps, "eval-steps", a.EvalSteps, "evaluate every this many steps (0: at the end only)")
	fs.IntVar(&a.SaveSteps, "save-steps", a.SaveSteps, "checkpoint every this many steps (0: never)")
	fs.StringVar(&a.OutputDir, "output-dir", a.OutputDir, "directory for the result, checkpoints, metrics.jsonl and curves.png")
	fs.BoolVar(&a.Quiet, "quiet", a.Quiet, "no progress output")
	fs.IntVar(&a.ZeroStage, "zero-stage", a.ZeroStage, "under mpirun: ZeRO stage, 0 (replicate), 1 (shard the optimizer state) or 2 (and the gradients)")
}

// checkArgs turns invalid training arguments into a usage error.
func checkArgs(a *train.Args) error {
	if err := a.Validate(); err != nil {
		return usagef("%s", strings.TrimPrefix(err.Error(), "train: "))
	}
	return nil
}

// parseClasses parses "5-9", "0,2,4" or "1-3,7" into class indices.
func parseClasses(s string) ([]int, error) {
	var out []int
	for _, part := range splitList(s) {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil || a < 0 {
			return nil, fmt.Errorf("--classes: %q is not a class number or range", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || b < a {
				return nil, fmt.Errorf("--classes: %q is not a range lo-hi with lo <= hi", part)
			}
		}
		if err := checkListValue("classes", b, 0, maxClasses-1); err != nil {
			return nil, err // before a range of that many classes is made
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--classes: no class given")
	}
	return out, nil
}

// parseInts parses a comma-separated list of integers, each in [lo, hi].
func parseInts(name, s string, lo, hi int) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		v, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not an integer", name, p)
		}
		if err := checkListValue(name, v, lo, hi); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// baseFlags are --base-dtype and --double-quant: how the frozen base's
// Linear weights are stored (QLoRA's 4-bit base is nf4 with
// --double-quant).
type baseFlags struct {
	dtype       *string
	doubleQuant *bool
}

func addBaseFlags(fs interface {
	String(name, value, usage string) *string
	Bool(name string, value bool, usage string) *bool
}) baseFlags {
	return baseFlags{
		dtype: fs.String("base-dtype", "f32", "storage of the frozen base's Linear weights: f32, bf16, fp16, int8 (per-row absmax) "+
			"or nf4 (4-bit NormalFloat, blocks of 64), dequantised inside the GEMM; the output head and convolutions stay f32 under int8/nf4"),
		doubleQuant: fs.Bool("double-quant", false, "with --base-dtype nf4: quantise the block scales to 8 bits too (QLoRA's double quantisation)"),
	}
}

// storage parses the flags; errors are usage errors.
func (b baseFlags) storage() (nn.Storage, error) {
	dt, err := tensor.ParseDType(*b.dtype)
	if err != nil {
		return nn.Storage{}, usagef("--base-dtype %q: want f32, bf16, fp16, int8 or nf4", *b.dtype)
	}
	if *b.doubleQuant && dt != tensor.NF4 {
		return nn.Storage{}, usagef("--double-quant quantises NF4's block scales: it needs --base-dtype nf4, not %s", *b.dtype)
	}
	return nn.Storage{DType: dt, DoubleQuant: *b.doubleQuant}, nil
}

// fullNeedsF32 is the usage error for full fine-tuning over a base that is
// not f32.
func fullNeedsF32(cmd string, s nn.Storage) error {
	return usagef("%s: --base-dtype %s needs --method lora: full fine-tuning trains every weight, in f32 (a %s base stays frozen under LoRA adapters, as in QLoRA)", cmd, s, s)
}
