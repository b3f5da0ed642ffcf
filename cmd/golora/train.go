package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/plan"
	"github.com/golora/golora/tensor"
	"github.com/golora/golora/train"
)

func init() {
	commands["train"] = command{"fine-tune a model with LoRA (default) or in full", runTrain}
}

// loraFlags are the LoraConfig fields as flags.
type loraFlags struct {
	r                 int
	alpha             float64
	dropout           float64
	targets           string
	modulesToSave     string
	bias              string
	rslora            bool
	layersToTransform string
	family            familyFlags // DoRA, init_lora_weights, LoRA+ (train_family.go)
	// adalora and adaloraTotal (the run's optimizer steps, AdaLoRA's
	// default total_step) configure --method adalora.
	adalora      *adaloraFlags
	adaloraTotal int
	// baseModel is --model as given, the adapter's base_model_name_or_path
	// (PEFT writes the hub id or local path it loaded; AutoPeftModel*
	// .from_pretrained(adapter_dir) loads the base from it).
	baseModel string
}

func (f *loraFlags) register(fs interface {
	IntVar(*int, string, int, string)
	Float64Var(*float64, string, float64, string)
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.IntVar(&f.r, "r", f.r, "LoRA rank (r)")
	fs.Float64Var(&f.alpha, "lora-alpha", f.alpha, "LoRA alpha (scale alpha/r)")
	fs.Float64Var(&f.dropout, "lora-dropout", f.dropout, "dropout on the LoRA branch input")
	fs.StringVar(&f.targets, "target-modules", f.targets, `comma-separated module names to adapt, or "all-linear" (default: PEFT's for the model type, e.g. query,value)`)
	fs.StringVar(&f.modulesToSave, "modules-to-save", f.modulesToSave, `comma-separated modules trained in full and saved with the adapter (default: the classification head, if any; "none" for none)`)
	fs.StringVar(&f.bias, "bias", f.bias, "none, all or lora_only")
	fs.BoolVar(&f.rslora, "use-rslora", f.rslora, "scale by alpha/sqrt(r) (rsLoRA)")
	fs.StringVar(&f.layersToTransform, "layers-to-transform", f.layersToTransform, "comma-separated layer indices to adapt (default all)")
	f.family.register(fs)
}

// config builds and validates the LoraConfig for model m, whose family
// gives the default targets and whose classification head is saved by
// default; with m nil (flags checked before a model is read) the defaults
// are placeholders. Errors are usage errors.
func (f *loraFlags) config(m models.Model) (lora.Config, error) {
	c := lora.DefaultConfig()
	c.R, c.LoraAlpha, c.LoraDropout, c.Bias, c.UseRSLoRA = f.r, f.alpha, f.dropout, f.bias, f.rslora
	if f.baseModel != "" {
		b := f.baseModel
		c.BaseModelNameOrPath = &b
	}
	switch {
	case f.targets == lora.AllLinear:
		c.TargetModules = lora.TargetRegex(lora.AllLinear)
	case f.targets != "":
		c.TargetModules = lora.TargetList(splitList(f.targets)...)
	case m != nil:
		c.TargetModules = plan.DefaultLoRA(m).TargetModules
	default:
		c.TargetModules = lora.TargetList("query", "value")
	}
	switch {
	case f.modulesToSave == "none":
	case f.modulesToSave != "":
		c.ModulesToSave = splitList(f.modulesToSave)
	case m != nil:
		c.ModulesToSave = plan.DefaultLoRA(m).ModulesToSave
	}
	layers, err := parseInts("--layers-to-transform", f.layersToTransform, 0, maxLayers-1)
	if err != nil {
		return c, usagef("%v", err)
	}
	c.LayersToTransform = layers
	f.family.apply(&c)
	if err := c.Validate(); err != nil {
		return c, usagef("%v", err)
	}
	return c, nil
}

func defaultLoraFlags() loraFlags {
	return loraFlags{r: 16, alpha: 16, bias: "none", family: defaultFamilyFlags()}
}

func runTrain(args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("train", "--model DIR --dataset mnist|fashion-mnist|imdb|sotu|moby-dick|DIR --output-dir DIR [--method lora|adalora|full] [flags]\n       mpirun -np N golora train ... [--zero-stage 0|1|2]  (built with -tags mpi)", stderr)
	a := train.DefaultArgs()
	a.LearningRate, a.PerDeviceTrainBatchSize, a.PerDeviceEvalBatchSize = 2e-3, 32, 64
	a.NumTrainEpochs, a.WarmupRatio, a.LoggingSteps, a.SaveSteps = 1, 0.05, 50, 0
	addTrainArgs(fs, &a)
	lf := defaultLoraFlags()
	lf.register(fs)
	af := defaultAdaloraFlags()
	af.register(fs)
	modelDir := fs.String("model", "", "base model directory (config.json, model.safetensors)")
	method := fs.String("method", "lora", "lora, adalora (PEFT's AdaLoraConfig: --init-r, --target-r, ...), or full for full fine-tuning")
	dataset := fs.String("dataset", "", "mnist, fashion-mnist, a directory (idx files or image folders); text: imdb, sotu, moby-dick or a directory of .txt files")
	classes := fs.String("classes", "", "keep only these classes, renumbered from 0 (e.g. 5-9)")
	threads := fs.Int("threads", 0, "worker threads (0: all cores, shared among the ranks mpirun starts on this machine)")
	bf := addBaseFlags(fs)
	ckpt := fs.Bool("gradient-checkpointing", false, "recompute each encoder block's forward in the backward: less activation memory, more time")
	var resume resumeFlag
	fs.Var(&resume, "resume", "resume from the latest checkpoint in --output-dir (or --resume=DIR)")
	tf := textFlags{}
	tf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("train: unexpected argument %q", fs.Arg(0))
	case *modelDir == "":
		return usagef("train: --model is required")
	case *dataset == "":
		return usagef("train: --dataset is required")
	case a.OutputDir == "":
		return usagef("train: --output-dir is required")
	case *method != "lora" && *method != "adalora" && *method != "full":
		return usagef("train: --method %q: want lora, adalora or full", *method)
	}
	if err := checkArgs(&a); err != nil {
		return err
	}
	base, err := bf.storage()
	if err != nil {
		return err
	}
	if base.DType != tensor.F32 && *method == "full" {
		return fullNeedsF32("train", base)
	}
	if err := lf.family.checkMethod(*method); err != nil {
		return err
	}
	if *method != "full" {
		base, err := lf.config(nil)
		if err != nil {
			return err
		}
		if *method == "adalora" { // total_step is checked again once the data is known
			steps := a.MaxSteps
			if steps <= 0 {
				steps = af.tinit + af.tfinal + 1
			}
			if _, err = af.config(base, steps); err != nil {
				return err
			}
		}
	}
	comm, err := joinJob()
	if err != nil {
		return err
	}
	defer leaveJob(comm, &err, stderr)
	stdout, stderr = quietRank(stdout, comm), quietRank(stderr, comm)
	if err := setRankThreads(*threads, comm); err != nil {
		return err
	}
	if err := tf.check("train"); err != nil {
		return err
	}
	if resume.v == "" {
		for _, f := range []string{peft.ConfigName, models.ConfigFile} {
			if _, err := os.Stat(filepath.Join(a.OutputDir, f)); err == nil {
				return fmt.Errorf("%s already holds a result (%s); choose another --output-dir or pass --resume", a.OutputDir, f)
			}
		}
	}
	if isTextDataset(*dataset) {
		if *classes != "" {
			return usagef("train: --classes is for image data")
		}
		lf.adalora = &af
		textEvalBatch(fs, &a)
		return runTrainText(a, &lf, &tf, *modelDir, *method, *dataset, base, comm, *ckpt, resume.v, stdout, stderr)
	}
	src, err := newDataSource("train", *dataset, *classes)
	if err != nil {
		return err
	}

	// Read and check everything before writing anything.
	if err := checkModelDir(*modelDir); err != nil {
		return err
	}
	trainSet, testSet, err := src.load(a.Seed)
	if err != nil {
		return err
	}
	lf.adalora = &af
	lf.adaloraTotal = a.TotalSteps(trainSet.Len())
	r, err := prepareFineTune(*modelDir, *method, &lf, classNames(trainSet), a.Seed)
	if err != nil {
		return err
	}
	// Trainability is decided: only frozen weights are converted.
	if err := r.storeBase(base); err != nil {
		return err
	}
	r.model.SetGradientCheckpointing(*ckpt)
	if err := checkTrainStep(&plan.Model{Base: r.model, LoRA: r.lora, AdaLoRA: r.adalora, Parallel: runParallel(comm, &a)}, a.PerDeviceTrainBatchSize, a.PerDeviceEvalBatchSize); err != nil {
		return err
	}
	if r.trainSet, err = newProcessed(trainSet, r.pc, r.model.Spec()); err != nil {
		return err
	}
	if r.evalSet, err = newProcessed(testSet, r.pc, r.model.Spec()); err != nil {
		return err
	}
	r.args, r.resume, r.stderr, r.comm, r.measureMem = a, resume.v, stderr, comm, true
	trainable, total := r.counts()
	fmt.Fprintf(stderr, "train: %s on %d images (%d classes), evaluating on %d: trainable params %d of %d (%.2f%%)\n",
		*method, trainSet.Len(), len(trainSet.Classes), testSet.Len(), trainable, total, 100*float64(trainable)/float64(total))
	if comm.Size() > 1 {
		fmt.Fprintf(stderr, "train: %d data-parallel ranks, %d kernel threads each, ZeRO stage %d, global batch %d\n",
			comm.Size(), kernels.Threads(), a.ZeroStage, comm.Size()*a.PerDeviceTrainBatchSize*a.GradientAccumulationSteps)
	}
	_, res, err := r.run()
	if err != nil {
		return err
	}
	mem := r.measure(*method, a.PerDeviceTrainBatchSize)
	what := "model"
	if r.lora != nil || r.adalora != nil {
		what = "PEFT adapter"
	}
	fmt.Fprintf(stdout, "trained %d steps in %s (%.1f ms/step): test loss %.4f, accuracy %.2f%%; %s written to %s\n",
		res.GlobalStep, res.Elapsed.Round(1e9), ms(res.StepTime), res.Eval.Loss, 100*res.Eval.Accuracy, what, a.OutputDir)
	if comm.Rank() != 0 {
		return nil
	}
	return mem.write(stdout, a.OutputDir)
}

// prepareFineTune loads the base in dir with a head for labels (fresh
// unless the base already has exactly these labels; labels nil keeps the
// head) and makes it trainable by method: LoRA with lf's settings, or
// every parameter ("full").
func prepareFineTune(dir, method string, lf *loraFlags, labels []string, seed uint64) (*trainingRun, error) {
	lf.baseModel = dir
	m, err := models.Load(dir, models.LoadOptions{Seed: seed})
	if err != nil {
		return nil, err
	}
	pc, err := loadProcessorConfig(dir, m.Spec())
	if err != nil {
		return nil, err
	}
	if labels != nil && !sameLabels(m, labels) {
		c, ok := m.(models.Classifier)
		if !ok {
			return nil, fmt.Errorf("%s is a %s without a classification head; it cannot learn labels %v", dir, m, labels)
		}
		if err := c.NewHead(labels, seed); err != nil {
			return nil, err
		}
	}
	r := &trainingRun{model: m, pc: pc}
	switch method {
	case "full":
		if err := checkFullTraining(m); err != nil {
			return nil, err
		}
		for _, p := range nn.AllParams(m) {
			if err := p.SetTrainable(true); err != nil {
				return nil, err
			}
		}
	case "adalora":
		if err := r.injectAdaLoRA(m, lf, seed); err != nil {
			return nil, err
		}
	default:
		cfg, err := lf.config(m)
		if err != nil {
			return nil, err
		}
		if r.lora, err = lora.Inject(m, cfg, seed); err != nil {
			return nil, err
		}
		r.loraPlus = lf.family.loraPlus()
	}
	nn.SetTraining(m, true)
	return r, nil
}

// storeBase stores the frozen Linear weights of the run's model as s
// (models.StoreBase: the output head stays f32 under int8 and NF4).
func (r *trainingRun) storeBase(s nn.Storage) error {
	r.base = s
	if s.DType == tensor.F32 {
		return nil
	}
	if _, err := models.StoreBase(r.model, s); err != nil {
		return err
	}
	return nil
}

// counts returns the trainable and total parameter counts (PEFT's, with
// LoRA).
func (r *trainingRun) counts() (trainable, total int64) {
	if r.lora != nil {
		return r.lora.ParamCounts()
	}
	if r.adalora != nil {
		return r.adalora.ParamCounts()
	}
	for _, p := range nn.AllParams(r.model) {
		total += int64(p.Len())
		if p.Trainable {
			trainable += int64(p.Len())
		}
	}
	return trainable, total
}
