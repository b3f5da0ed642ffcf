package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/golora/golora/models"
	"github.com/golora/golora/models/bert"
	"github.com/golora/golora/models/llama"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/train"
)

// TextBaseModel is the shipped LLaMA's directory (relative to the
// repository root): pretrained by golora on Moby Dick, with its tokenizer.
var TextBaseModel = filepath.Join("assets", "llama-moby-dick")

// textDemoResult is one method's summary in the text demos (--json).
type textDemoResult struct {
	Method           string  `json:"method"`
	Task             string  `json:"task"`
	TrainableParams  int64   `json:"trainable_params"`
	TotalParams      int64   `json:"total_params"`
	LossBefore       float64 `json:"eval_loss_before"`
	LossAfter        float64 `json:"eval_loss_after"`
	PerplexityBefore float64 `json:"perplexity_before,omitempty"`
	PerplexityAfter  float64 `json:"perplexity_after,omitempty"`
	AccuracyBefore   float64 `json:"accuracy_before,omitempty"`
	AccuracyAfter    float64 `json:"accuracy_after,omitempty"`
	EvalExamples     int     `json:"eval_examples"`
	Steps            int     `json:"steps"`
	Batch            int     `json:"batch"`
	StepMS           float64 `json:"step_ms"`
	TrainSeconds     float64 `json:"train_seconds"`
	PeakRSSBytes     int64   `json:"peak_rss_bytes"`
	OutputDir        string  `json:"output_dir"`
}

// textDemo are the text demos' settings.
type textDemo struct {
	which          string // "sotu" or "imdb"
	base           string
	steps, batch   int
	lr, fullLR     float64
	evalLimit      int
	trainLimit     int
	seed           uint64
	outDir         string
	compare, quiet bool
}

// Defaults of the text demos (see README): LoRA r 16 on q_proj and v_proj
// (and, for IMDB, the score head), AdamW with a linear schedule.
const (
	textDemoSteps      = 300  // sotu
	textDemoIMDBSteps  = 1000 // imdb
	textDemoBatch      = 16
	textDemoLR         = 2e-3
	textDemoFullLR     = 3e-4
	textDemoSeqLen     = 128 // IMDB: the last 128 tokens of each review
	textDemoEvalLimit  = 2000
	textDemoEvalBatch  = 16
	textDemoWarmupFrac = 0.05
)

// runTextDemo is "golora demo --text sotu|imdb": the shipped Moby Dick
// LLaMA adapted with LoRA to the State of the Union addresses (held-out
// perplexity before and after), or fine-tuned for IMDB sentiment (LoRA
// beside full fine-tuning at equal steps, accuracy before and after).
func runTextDemo(d textDemo, lf *loraFlags, asJSON bool, stdout, log io.Writer) error {
	if err := checkModelDir(d.base); err != nil {
		return fmt.Errorf("%w (run from the repository root, or pass --model)", err)
	}
	tok, err := loadTokenizer(d.base, "")
	if err != nil {
		return err
	}
	corpus, err := loadTextCorpus(d.which)
	if err != nil {
		return err
	}
	task := "causal-lm"
	if d.which == "imdb" {
		task = "classification"
	}
	methods := []string{"lora"}
	if d.compare || d.which == "imdb" {
		methods = append(methods, "full")
	}
	if d.compare {
		methods = append(methods, "scratch")
	}
	// IMDB reviews state their verdict late more often than early: keep
	// each review's last tokens, nearest the pooled last position.
	tf := textFlags{maxSeqLength: textDemoSeqLen, truncationSide: "left", maxTrainSamples: d.trainLimit, maxEvalSamples: d.evalLimit}
	fmt.Fprintf(log, "golora demo --text %s: the shipped LLaMA (pretrained on Moby Dick) ", d.which)
	if task == "causal-lm" {
		fmt.Fprintf(log, "adapted to the State of the Union addresses; perplexity on the held-out speeches\n")
	} else {
		fmt.Fprintf(log, "fine-tuned for IMDB sentiment (neg/pos); accuracy on held-out reviews\n")
	}
	var results []textDemoResult
	for _, method := range methods {
		m, err := loadTextModel(d.base, task, corpus.classes, d.seed)
		if err != nil {
			return err
		}
		if method == "scratch" { // the same shape, transformers' random initialisation
			if m, err = scratchLike(m, d.seed); err != nil {
				return err
			}
		}
		td, err := tf.prepareText(corpus, task, tok, m, eosOf(m))
		if err != nil {
			return err
		}
		r := &trainingRun{model: m, tokenizer: tok.JSON(), trainSet: td.trainSet, evalSet: td.evalSt}
		if method != "lora" {
			for _, p := range nn.AllParams(m) {
				if err := p.SetTrainable(true); err != nil {
					return err
				}
			}
		} else {
			lf.baseModel = d.base
			cfg, err := lf.config(m)
			if err != nil {
				return err
			}
			tt := taskType(task)
			cfg.TaskType = &tt
			if r.lora, err = lora.Inject(m, cfg, d.seed); err != nil {
				return err
			}
		}
		res := textDemoResult{Method: method, Task: task, Steps: d.steps, Batch: d.batch, OutputDir: filepath.Join(d.outDir, d.which+"-"+method)}
		res.TrainableParams, res.TotalParams = r.counts()
		fmt.Fprintf(log, "\n== %s: %s ==\n", method, map[string]string{"lora": "LoRA (q_proj, v_proj" + map[bool]string{true: ", score head", false: ""}[task == "classification"] + ")",
			"full": "full fine-tuning", "scratch": "training from scratch (same shape and steps, random initialisation)"}[method])
		fmt.Fprintf(log, "data: %d training and %d held-out %s\n", td.trainSet.Len(), td.evalSt.Len(), map[string]string{"causal-lm": fmt.Sprintf("blocks of %d tokens", td.seqLen), "classification": fmt.Sprintf("reviews (last %d tokens)", td.seqLen)}[task])
		if r.lora != nil {
			fmt.Fprintln(log, r.lora.TrainableSummary())
		}
		before, err := train.Evaluate(m, td.evalSt, textDemoEvalBatch)
		if err != nil {
			return err
		}
		res.LossBefore, res.PerplexityBefore, res.AccuracyBefore, res.EvalExamples = before.Loss, before.Perplexity(), before.Accuracy, before.Examples
		fmt.Fprintf(log, "before: %s\n", describeEval(task, before))
		a := train.DefaultArgs()
		a.OutputDir, a.MaxSteps, a.PerDeviceTrainBatchSize, a.PerDeviceEvalBatchSize = res.OutputDir, d.steps, d.batch, textDemoEvalBatch
		a.LearningRate, a.WarmupRatio, a.LRSchedulerType, a.WeightDecay = d.lr, textDemoWarmupFrac, "linear", 0.01
		if method != "lora" {
			a.LearningRate = d.fullLR
		}
		a.LoggingSteps, a.SaveSteps, a.Seed, a.Quiet = max(1, d.steps/20), 0, d.seed, d.quiet
		r.args, r.stderr = a, log
		if err := os.RemoveAll(res.OutputDir); err != nil {
			return err
		}
		resetPeakRSS()
		_, tres, err := r.run()
		if err != nil {
			return err
		}
		res.StepMS, res.TrainSeconds, res.PeakRSSBytes = ms(tres.StepTime), ms(tres.StepTime)*float64(tres.Steps)/1000, peakRSS()
		after := *tres.Eval
		res.LossAfter, res.PerplexityAfter, res.AccuracyAfter = after.Loss, after.Perplexity(), after.Accuracy
		fmt.Fprintf(log, "after %d steps of %d: %s (%.1f ms/step, %s)\n", d.steps, d.batch, describeEval(task, after), res.StepMS,
			time.Duration(res.TrainSeconds*1e9).Round(time.Second/10))
		if task == "causal-lm" {
			res.AccuracyBefore, res.AccuracyAfter = 0, 0
		} else {
			res.PerplexityBefore, res.PerplexityAfter = 0, 0
		}
		results = append(results, res)
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"demo": d.which, "results": results})
	}
	fmt.Fprintln(stdout)
	if task == "causal-lm" {
		fmt.Fprintf(stdout, "State of the Union, held-out speeches (%d blocks of 256 tokens): perplexity of the Moby Dick LLaMA\n", results[0].EvalExamples)
	} else {
		fmt.Fprintf(stdout, "IMDB sentiment, %d held-out reviews (last %d tokens): accuracy\n", results[0].EvalExamples, textDemoSeqLen)
	}
	fmt.Fprintf(stdout, "%-7s %10s %10s %10s %5s %9s %9s %9s  %s\n", "method", "trainable", "before", "after", "steps", "ms/step", "train s", "peak MiB", "written to")
	for _, r := range results {
		b, a := fmt.Sprintf("%.2f", r.PerplexityBefore), fmt.Sprintf("%.2f", r.PerplexityAfter)
		if task == "classification" {
			b, a = fmt.Sprintf("%.2f%%", 100*r.AccuracyBefore), fmt.Sprintf("%.2f%%", 100*r.AccuracyAfter)
		}
		fmt.Fprintf(stdout, "%-7s %9.2f%% %10s %10s %5d %9.1f %9.1f %9.1f  %s\n", r.Method, 100*float64(r.TrainableParams)/float64(r.TotalParams),
			b, a, r.Steps, r.StepMS, r.TrainSeconds, float64(r.PeakRSSBytes)/(1<<20), r.OutputDir)
	}
	return nil
}

// scratchLike returns a randomly initialised model of m's architecture and
// configuration (transformers' initialisation), for the from-scratch
// baseline.
func scratchLike(m models.Model, seed uint64) (models.Model, error) {
	switch b := m.(type) {
	case *llama.Model:
		return llama.New(b.Config, seed)
	case *llama.SeqCls:
		return llama.NewSeqCls(b.Config, seed)
	case *bert.Model:
		return bert.New(b.Config, seed)
	}
	return nil, fmt.Errorf("demo: no from-scratch baseline for %s", m)
}
