package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/data"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/adalora"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/train"
)

// resumeFlag is --resume: bare, it resumes from the latest checkpoint in
// --output-dir; --resume=DIR names a checkpoint.
type resumeFlag struct{ v string }

func (r *resumeFlag) String() string   { return r.v }
func (r *resumeFlag) IsBoolFlag() bool { return true }
func (r *resumeFlag) Set(s string) error {
	switch s {
	case "true":
		r.v = "latest"
	case "false":
		r.v = ""
	default:
		r.v = s
	}
	return nil
}

// setThreads applies --threads (0: all cores).
func setThreads(n int) error {
	if n < 0 {
		return usagef("--threads %d: want >= 0 (0: all cores)", n)
	}
	kernels.SetThreads(n)
	return nil
}

// trainingRun is one training of a model, full or with LoRA.
type trainingRun struct {
	args     train.Args
	model    models.Model
	lora     *lora.Model           // nil: every trainable parameter of model is trained in full
	adalora  *adalora.Model        // set instead of lora by --method adalora
	loraPlus *lora.LoraPlus        // LoRA+'s learning-rate groups, or nil
	pc       *data.ProcessorConfig // image models: their preprocessing
	// tokenizer is a text model's tokenizer.json, saved beside a full model.
	tokenizer []byte
	trainSet  train.Dataset
	evalSet   train.Dataset
	resume    string // "", "latest" or a checkpoint directory
	stderr    io.Writer
	base      nn.Storage // how the frozen Linear weights are stored (zero: f32)

	comm       collective.Comm // nil: one process
	measureMem bool            // start measuring memory once the trainer is prepared
}

// job is the run's data-parallel group.
func (r *trainingRun) job() collective.Comm {
	if r.comm == nil {
		return collective.Local{}
	}
	return r.comm
}

// save writes the run's result into dir: the PEFT adapter (with the label
// names beside it), or the full model directory.
func (r *trainingRun) save(dir string) error {
	if r.lora != nil || r.adalora != nil {
		var err error
		if r.lora != nil {
			err = r.lora.Save(dir)
		} else {
			err = r.adalora.Save(dir)
		}
		if err != nil {
			return err
		}
		if c, ok := r.model.(models.Classifier); ok {
			return writeLabels(dir, c.Labels())
		}
		return nil
	}
	if err := saveModelDir(r.model, r.pc, dir); err != nil {
		return err
	}
	if r.tokenizer != nil {
		return writeTokenizer(dir, r.tokenizer)
	}
	return nil
}

// run trains and writes the result into the output directory (rank 0 of
// a data-parallel job; every rank trains).
func (r *trainingRun) run() (*train.Trainer, *train.Result, error) {
	tr := &train.Trainer{Args: r.args, Model: r.model, TrainData: r.trainSet, EvalData: r.evalSet,
		SaveModel: r.save, Progress: r.stderr, Comm: r.comm}
	if r.adalora != nil {
		tr.Hooks = r.adalora
	}
	if r.loraPlus != nil {
		tr.LRScale = r.loraPlus.Scale(r.args.LearningRate)
	}
	// With several ranks, preparing moves the gradients into the
	// data-parallel buffers: measure from there.
	if err := tr.Prepare(); err != nil {
		return nil, nil, err
	}
	if r.measureMem {
		r.startMeasure()
	}
	if r.resume != "" {
		dir := r.resume
		if dir == "latest" {
			d, err := train.LatestCheckpoint(r.args.OutputDir)
			if err != nil {
				return nil, nil, err
			}
			if d == "" {
				return nil, nil, fmt.Errorf("--resume: no checkpoint in %s", r.args.OutputDir)
			}
			dir = d
		}
		if err := tr.Resume(dir); err != nil {
			return nil, nil, err
		}
	}
	res, err := tr.Train()
	if err != nil {
		return tr, nil, err
	}
	if r.args.OutputDir != "" && r.job().Rank() == 0 {
		if err := os.MkdirAll(r.args.OutputDir, 0o755); err != nil {
			return tr, nil, err
		}
		if err := r.saveFinal(r.args.OutputDir); err != nil {
			return tr, nil, err
		}
	}
	return tr, res, nil
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// sameLabels reports whether m classifies into names, in order.
func sameLabels(m models.Model, names []string) bool {
	c, ok := m.(models.Classifier)
	return ok && slices.Equal(c.Labels(), names)
}
