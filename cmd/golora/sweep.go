package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/peft"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/train"
)

func init() {
	commands["sweep"] = command{"train LoRA at several ranks and compare accuracy, parameters, step time and memory", runSweep}
}

// Files a sweep writes into its output directory (beside r<rank>/ with
// each run's adapter, metrics and curves).
const (
	SweepJSON  = "sweep.json"
	SweepChart = "sweep.png"
)

// sweepRow is one rank's result.
type sweepRow struct {
	R               int     `json:"r"`
	LoraAlpha       float64 `json:"lora_alpha"`
	TrainableParams int64   `json:"trainable_params"`
	TotalParams     int64   `json:"total_params"`
	Accuracy        float64 `json:"accuracy"`
	EvalLoss        float64 `json:"eval_loss"`
	TrainLoss       float64 `json:"train_loss"`
	StepMS          float64 `json:"step_ms"`
	PeakBytes       int64   `json:"peak_bytes"`     // accounted buffers (weights, grads, optimizer, activations, workspace, data)
	PlannedBytes    int64   `json:"planned_bytes"`  // the planner's prediction of one step
	PeakRSSBytes    int64   `json:"peak_rss_bytes"` // VmHWM of the run (reset before it)
	AdapterDir      string  `json:"adapter_dir"`
}

// sweepReport is sweep.json.
type sweepReport struct {
	Model    string     `json:"model"`
	Dataset  string     `json:"dataset"`
	Classes  string     `json:"classes,omitempty"`
	TestSize int        `json:"test_examples"`
	Steps    int        `json:"steps"`
	Batch    int        `json:"batch"`
	Settings []string   `json:"args"`
	Results  []sweepRow `json:"results"`
}

// rankList is --r for the sweep: a comma-separated list of ranks.
type rankList struct{ v []int }

func (l *rankList) String() string { return fmt.Sprint(l.v) }
func (l *rankList) Set(s string) error {
	rs, err := parseInts("--r", s, 1, lora.MaxRank)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return fmt.Errorf("no ranks")
	}
	l.v = rs
	return nil
}

func runSweep(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sweep", "--model DIR --dataset mnist|fashion-mnist|DIR --output-dir DIR --r 4,8,16,32,64 [flags]", stderr)
	a := train.DefaultArgs()
	// Evaluation batches as large as training ones: the peak memory is then
	// the training step's, which the planner predicts.
	a.LearningRate, a.PerDeviceTrainBatchSize, a.PerDeviceEvalBatchSize = 2e-3, 32, 32
	a.NumTrainEpochs, a.WarmupRatio, a.LoggingSteps, a.SaveSteps = 1, 0.05, 50, 0
	addTrainArgs(fs, &a)
	lf := defaultLoraFlags()
	lf.register(fs)
	ranks := rankList{v: []int{4, 8, 16, 32, 64}}
	rf := fs.Lookup("r")
	rf.Value, rf.DefValue, rf.Usage = &ranks, ranks.String(), "comma-separated LoRA ranks to train, one run each"
	alphaRatio := fs.Float64("alpha-ratio", 0, "lora_alpha = this × r for each rank (0: the fixed --lora-alpha, PEFT's convention)")
	modelDir := fs.String("model", "", "base model directory (config.json, model.safetensors)")
	dataset := fs.String("dataset", "", "mnist, fashion-mnist, or a directory (idx files or image folders)")
	classes := fs.String("classes", "", "keep only these classes, renumbered from 0 (e.g. 5-9)")
	threads := fs.Int("threads", 0, "worker threads (0: all cores)")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout instead of the table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("sweep: unexpected argument %q", fs.Arg(0))
	case *modelDir == "":
		return usagef("sweep: --model is required")
	case *dataset == "":
		return usagef("sweep: --dataset is required")
	case a.OutputDir == "":
		return usagef("sweep: --output-dir is required")
	case !(*alphaRatio >= 0):
		return usagef("sweep: --alpha-ratio must be >= 0")
	}
	if err := checkArgs(&a); err != nil {
		return err
	}
	if err := lf.family.checkMethod("lora"); err != nil {
		return err
	}
	if _, err := lf.config(nil); err != nil {
		return err
	}
	if err := setThreads(*threads); err != nil {
		return err
	}
	src, err := newDataSource("sweep", *dataset, *classes)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(a.OutputDir, SweepJSON)); err == nil {
		return fmt.Errorf("%s already holds a sweep (%s); choose another --output-dir", a.OutputDir, SweepJSON)
	}
	if err := checkModelDir(*modelDir); err != nil {
		return err
	}
	trainSet, testSet, err := src.load(a.Seed)
	if err != nil {
		return err
	}
	rep := sweepReport{Model: *modelDir, Dataset: *dataset, Classes: *classes, TestSize: testSet.Len(),
		Steps: a.TotalSteps(trainSet.Len()), Batch: a.PerDeviceTrainBatchSize, Settings: args}
	for _, r := range ranks.v {
		rl := lf
		rl.r = r
		if *alphaRatio > 0 {
			rl.alpha = *alphaRatio * float64(r)
		}
		run, err := prepareFineTune(*modelDir, "lora", &rl, classNames(trainSet), a.Seed)
		if err != nil {
			return err
		}
		if run.trainSet, err = newProcessed(trainSet, run.pc, run.model.Spec()); err != nil {
			return err
		}
		if run.evalSet, err = newProcessed(testSet, run.pc, run.model.Spec()); err != nil {
			return err
		}
		run.args = a
		run.args.OutputDir = filepath.Join(a.OutputDir, "r"+strconv.Itoa(r))
		run.stderr = stderr
		if err := os.RemoveAll(run.args.OutputDir); err != nil {
			return err
		}
		trainable, total := run.counts()
		fmt.Fprintf(stderr, "sweep: r %d, lora_alpha %g: trainable params %d of %d\n", r, rl.alpha, trainable, total)
		run.startMeasure()
		_, res, err := run.run()
		if err != nil {
			return err
		}
		mem := run.measure("lora", a.PerDeviceTrainBatchSize)
		rep.Results = append(rep.Results, sweepRow{R: r, LoraAlpha: rl.alpha, TrainableParams: trainable, TotalParams: total,
			Accuracy: res.Eval.Accuracy, EvalLoss: res.Eval.Loss, TrainLoss: res.TrainLoss, StepMS: ms(res.StepTime),
			PeakBytes: mem.PeakTotalBytes, PlannedBytes: mem.PlannedTotalBytes, PeakRSSBytes: mem.PeakRSSBytes,
			AdapterDir: run.args.OutputDir})
		fmt.Fprintf(stderr, "sweep: r %d: accuracy %.2f%%, %.1f ms/step\n", r, 100*res.Eval.Accuracy, ms(res.StepTime))
		run = nil
		settle()
	}
	if err := writeSweep(a.OutputDir, rep); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	printSweep(stdout, rep)
	fmt.Fprintf(stdout, "\n%s, %s and each rank's adapter (r<rank>/%s) in %s\n", SweepJSON, SweepChart, peft.ConfigName, a.OutputDir)
	return nil
}

// writeSweep writes sweep.json and sweep.png into dir.
func writeSweep(dir string, rep sweepReport) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	err = atomicfile.WriteFile(filepath.Join(dir, SweepJSON), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}, 0o644)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return writeSweepChart(filepath.Join(dir, SweepChart), rep)
}

// printSweep writes the table.
func printSweep(w io.Writer, rep sweepReport) {
	fmt.Fprintf(w, "LoRA rank sweep on %s (%d test examples), %d steps of %d\n", rep.Dataset, rep.TestSize, rep.Steps, rep.Batch)
	fmt.Fprintf(w, "%5s %7s %11s %8s %9s %9s %8s %9s %9s %9s\n", "r", "alpha", "trainable", "share", "accuracy", "eval loss", "ms/step", "peak MiB", "plan MiB", "RSS MiB")
	for _, r := range rep.Results {
		fmt.Fprintf(w, "%5d %7g %11d %7.2f%% %8.2f%% %9.4f %8.1f %9.1f %9.1f %9.1f\n", r.R, r.LoraAlpha, r.TrainableParams,
			100*float64(r.TrainableParams)/float64(r.TotalParams), 100*r.Accuracy, r.EvalLoss, r.StepMS,
			mib(r.PeakBytes), mib(r.PlannedBytes), mib(r.PeakRSSBytes))
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
