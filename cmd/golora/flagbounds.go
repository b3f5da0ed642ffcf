package main

import (
	"flag"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/models/llama"
	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/peft/lora"
)

// Bounds of the numeric flags, by name: a flag means the same in every
// command that has it. parseFlags checks every flag given on the command
// line against its bound before a command sees it, so an absurd value is a
// one-line usage error (exit code 2), never an allocation of its size.
// The bounds are far above any sensible run; what a run really needs is
// checked later, by bytes, against the files and the memory available.
// Every numeric flag must have a bound here (TestEveryNumericFlagBounded).
var flagBounds = map[string]flagBound{
	// Sizes that allocate (the model sizes are pretrain's, a ViT's).
	"r":                           intRange(1, lora.MaxRank),
	"batch":                       intRange(1, maxBatch),
	"batch-size":                  intRange(1, maxBatch),
	"per-device-train-batch-size": intRange(1, maxBatch),
	"per-device-eval-batch-size":  intRange(1, maxBatch),
	"threads":                     intRange(0, maxThreads),
	"world-size":                  intRange(1, maxWorld),
	"zero-stage":                  intRange(0, 2),
	"hidden-size":                 intRange(1, vit.MaxHiddenSize),
	"num-hidden-layers":           intRange(1, vit.MaxLayers),
	"num-attention-heads":         intRange(1, vit.MaxHeads),
	"intermediate-size":           intRange(0, vit.MaxIntermediateSize),
	"patch-size":                  intRange(1, vit.MaxImageSize),
	// Text: tokens and vocabulary (a LLaMA's, pretrain's sizes).
	"max-seq-length":          intRange(1, llama.MaxPositions),
	"block-size":              intRange(0, llama.MaxPositions),
	"max-position-embeddings": intRange(2, llama.MaxPositions),
	"vocab-size":              intRange(1, llama.MaxVocab),
	"num-key-value-heads":     intRange(0, llama.MaxHeads),
	"max-new-tokens":          intRange(0, llama.MaxPositions),
	"top-k":                   intRange(0, llama.MaxVocab),
	"max-train-samples":       intRange(0, maxSteps),
	"max-eval-samples":        intRange(0, maxSteps),
	"augment-shift":           intRange(0, vit.MaxImageSize),
	// Counts of steps, images and repetitions.
	"gradient-accumulation-steps": intRange(1, maxSteps),
	"max-steps":                   intRange(0, maxSteps),
	"warmup-steps":                intRange(0, maxSteps),
	"logging-steps":               intRange(0, maxSteps),
	"eval-steps":                  intRange(0, maxSteps),
	"save-steps":                  intRange(0, maxSteps),
	"steps":                       intRange(1, maxSteps),
	"warmup":                      intRange(0, maxSteps),
	"reps":                        intRange(1, maxSteps),
	"limit":                       intRange(0, maxSteps),
	"eval-limit":                  intRange(0, maxSteps),
	"train-limit":                 intRange(0, maxSteps),
	"seed":                        {any: true}, // every uint64 is a seed
	// Rates and factors: finite, within a generous range; the commands
	// and train.Args.Validate check what each one means.
	"learning-rate":         floatRange(0, 1e6),
	"full-learning-rate":    floatRange(0, 1e6),
	"scratch-learning-rate": floatRange(0, 1e6),
	"lora-alpha":            floatRange(-1e9, 1e9),
	"lora-dropout":          floatRange(0, 1),
	"num-train-epochs":      floatRange(0, 1e6),
	"warmup-ratio":          floatRange(0, 1),
	"weight-decay":          floatRange(0, 1e6),
	"adam-beta1":            floatRange(0, 1),
	"adam-beta2":            floatRange(0, 1),
	"adam-epsilon":          floatRange(0, 1),
	"momentum":              floatRange(0, 1e6),
	"max-grad-norm":         floatRange(0, 1e30),
	"peak-time":             {dur: true, hi: float64(time.Hour)},
	// The LoRA family (train_family.go, sweep.go).
	"loraplus-lr-ratio":     floatRange(0, 1e6),
	"loraplus-lr-embedding": floatRange(0, 1e6),
	"alpha-ratio":           floatRange(0, 1e9),
	"init-r":                intRange(1, lora.MaxRank),
	"target-r":              intRange(1, lora.MaxRank),
	"tinit":                 intRange(0, maxSteps),
	"tfinal":                intRange(0, maxSteps),
	"delta-t":               intRange(1, maxSteps),
	"total-step":            intRange(0, maxSteps),
	"beta1":                 floatRange(0, 1),
	"beta2":                 floatRange(0, 1),
	"orth-reg-weight":       floatRange(0, 1e6),
	"rope-theta":            floatRange(0, 1e12),
	"temperature":           floatRange(0, 1e6),
	"top-p":                 floatRange(0, 1),
}

const (
	maxBatch   = 1 << 16 // examples per batch
	maxThreads = 1024    // worker threads
	maxWorld   = 1 << 20 // data-parallel ranks the planner and in-process bench accept
	maxSteps   = 1 << 40 // steps, images, repetitions
	maxClasses = 1 << 18 // class numbers in --classes
	maxLayers  = 1 << 16 // layer indices in --layers-to-transform
)

// flagBound is the range of one numeric flag.
type flagBound struct {
	lo, hi float64
	float  bool // a float flag (else an integer or a duration)
	dur    bool // a duration, in [0, hi] nanoseconds
	any    bool // every value of the flag's type is valid
}

func intRange(lo, hi int64) flagBound     { return flagBound{lo: float64(lo), hi: float64(hi)} }
func floatRange(lo, hi float64) flagBound { return flagBound{lo: lo, hi: hi, float: true} }

// numericValue returns a flag's value as a number, and whether it is one.
func numericValue(f *flag.Flag) (float64, bool) {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return 0, false
	}
	switch v := g.Get().(type) {
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case uint:
		return float64(v), true
	case uint64:
		return float64(v), true
	case float64:
		return v, true
	case time.Duration:
		return float64(v), true
	}
	return 0, false
}

// checkFlagBounds checks the numeric flags set on the command line.
func checkFlagBounds(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err != nil {
			return
		}
		b, known := flagBounds[f.Name]
		v, numeric := numericValue(f)
		if !known || !numeric || b.any {
			return
		}
		err = b.check("--"+f.Name, f.Value.String(), v)
	})
	return err
}

func (b flagBound) check(name, text string, v float64) error {
	switch {
	case b.dur:
		if !(v >= 0 && v <= b.hi) {
			return fmt.Errorf("%s %s is out of range: want 0 to %v", name, text, time.Duration(b.hi))
		}
		return nil
	case b.float:
		return sizecheck.Float(name, v, b.lo, b.hi)
	}
	if !(v >= b.lo && v <= b.hi) || math.Trunc(v) != v {
		return fmt.Errorf("%s %s is out of range: want %s to %s", name, text,
			sizecheck.Count(int64(b.lo)), sizecheck.Count(int64(b.hi)))
	}
	return nil
}

// checkListValue bounds a number given inside a list flag (--classes 0-9,
// --layers-to-transform 0,1, bench's --threads 1,2): as the flag of the
// same name, or within [lo, hi].
func checkListValue(flagName string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("--%s: %d is out of range: want %s to %s", strings.TrimPrefix(flagName, "--"), v,
			sizecheck.Count(int64(lo)), sizecheck.Count(int64(hi)))
	}
	return nil
}
