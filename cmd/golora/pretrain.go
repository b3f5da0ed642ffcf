package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/plan"
	"github.com/golora/golora/train"
)

func init() {
	commands["pretrain"] = command{"train a ViT (images) or a LLaMA (text) from scratch to make a base model", runPretrain}
}

func runPretrain(args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("pretrain", "--output-dir DIR [--model-type vit|llama] [--config config.json | size flags] [--dataset mnist|moby-dick|...] [--classes 0-4] [flags]", stderr)
	a := train.DefaultArgs()
	a.LearningRate, a.PerDeviceTrainBatchSize, a.PerDeviceEvalBatchSize = 1e-3, 64, 64
	a.LRSchedulerType, a.WarmupRatio, a.WeightDecay = "cosine", 0.05, 0.05
	a.LoggingSteps, a.SaveSteps = 50, 0
	addTrainArgs(fs, &a)
	modelType := fs.String("model-type", "", "vit (images) or llama (text); default: from --config, else by the dataset")
	configPath := fs.String("config", "", "config.json to train (a ViT's num_labels is set from the data); otherwise the size flags")
	hidden := fs.Int("hidden-size", 64, "hidden_size")
	layers := fs.Int("num-hidden-layers", 4, "num_hidden_layers")
	heads := fs.Int("num-attention-heads", 4, "num_attention_heads")
	inter := fs.Int("intermediate-size", 0, "intermediate_size (0: 4 x hidden_size)")
	patch := fs.Int("patch-size", 4, "patch_size")
	dataset := fs.String("dataset", "", "mnist (default for vit), fashion-mnist, or a directory of images; llama: moby-dick, sotu, imdb or a directory of .txt files")
	classes := fs.String("classes", "", "keep only these classes, renumbered from 0 (e.g. 0-4)")
	shift := fs.Int("augment-shift", 0, "augmentation: move each training image by up to this many pixels")
	threads := fs.Int("threads", 0, "worker threads (0: all cores)")
	ckpt := fs.Bool("gradient-checkpointing", false, "recompute each encoder block's forward in the backward: less activation memory, more time")
	var resume resumeFlag
	fs.Var(&resume, "resume", "resume from the latest checkpoint in --output-dir (or --resume=DIR)")
	var pf textPretrainFlags
	pf.register(fs)
	tf := textFlags{}
	tf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *modelType == "" && *configPath != "" && isLlamaConfig(*configPath), *modelType == "" && isTextDataset(*dataset):
		*modelType = "llama"
	case *modelType == "":
		*modelType = "vit"
	}
	if *modelType != "vit" && *modelType != "llama" {
		return usagef("pretrain: --model-type %q: want vit or llama", *modelType)
	}
	if fs.NArg() > 0 {
		return usagef("pretrain: unexpected argument %q", fs.Arg(0))
	}
	if a.OutputDir == "" {
		return usagef("pretrain: --output-dir is required")
	}
	if err := checkArgs(&a); err != nil {
		return err
	}
	if *shift < 0 {
		return usagef("pretrain: --augment-shift %d: want >= 0", *shift)
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
	if *modelType == "llama" {
		switch {
		case *dataset == "":
			return usagef("pretrain: --dataset is required for a LLaMA (moby-dick, sotu, imdb or a directory of .txt files)")
		case *classes != "" || *shift != 0:
			return usagef("pretrain: --classes and --augment-shift are for images")
		}
		if err := tf.check("pretrain"); err != nil {
			return err
		}
		if resume.v == "" {
			if _, err := os.Stat(filepath.Join(a.OutputDir, vit.ConfigFile)); err == nil {
				return fmt.Errorf("%s already holds a model; choose another --output-dir or pass --resume", a.OutputDir)
			}
		}
		textEvalBatch(fs, &a)
		return runPretrainText(a, *configPath, *hidden, *layers, *heads, *inter, &pf, &tf, *dataset, *ckpt, resume.v, comm, stdout, stderr)
	}
	if *dataset == "" {
		*dataset = "mnist"
	}
	src, err := newDataSource("pretrain", *dataset, *classes)
	if err != nil {
		return err
	}
	if resume.v == "" {
		if _, err := os.Stat(filepath.Join(a.OutputDir, vit.ConfigFile)); err == nil {
			return fmt.Errorf("%s already holds a model; choose another --output-dir or pass --resume", a.OutputDir)
		}
	}

	// Everything is read and checked before anything is written.
	trainSet, testSet, err := src.load(a.Seed)
	if err != nil {
		return err
	}
	var cfg vit.Config
	if *configPath != "" {
		if cfg, err = vit.LoadConfig(*configPath); err != nil {
			return err
		}
	} else {
		img := trainSet.Images[0]
		cfg = vit.DefaultConfig()
		cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads = *hidden, *layers, *heads
		cfg.IntermediateSize = *inter
		if cfg.IntermediateSize == 0 {
			cfg.IntermediateSize = 4 * *hidden
		}
		cfg.ImageSize, cfg.PatchSize, cfg.NumChannels = img.Height, *patch, img.Channels
		cfg.EncoderStride = *patch
	}
	cfg.SetLabels(classNames(trainSet))
	if err := cfg.Validate(); err != nil {
		return usagef("pretrain: %v", err)
	}
	// The weights, their gradients and AdamW's two moments, before any.
	p := vit.ExpectedCount(cfg)
	if err := sizecheck.Memory("full training (4 f32 copies: weights, gradients, AdamW's moments) of the "+cfg.DescribeParams(),
		sizecheck.Mul(4, p.Bytes["F32"])); err != nil {
		if *configPath == "" {
			return usagef("pretrain: the size flags: %v", err) // sized by flags alone
		}
		return err
	}
	model, err := vit.New(cfg, a.Seed)
	if err != nil {
		return err
	}
	for _, p := range nn.AllParams(model) {
		if err := p.SetTrainable(true); err != nil {
			return err
		}
	}
	model.SetGradientCheckpointing(*ckpt)
	if err := checkTrainStep(&plan.Model{Base: model, Parallel: runParallel(comm, &a)}, a.PerDeviceTrainBatchSize, a.PerDeviceEvalBatchSize); err != nil {
		return err
	}
	pc := grayProcessorConfig(cfg.ImageSize, cfg.NumChannels)
	tp, err := newProcessed(trainSet, &pc, model.Spec())
	if err != nil {
		return err
	}
	ep, err := newProcessed(testSet, &pc, model.Spec())
	if err != nil {
		return err
	}
	var td train.Dataset = tp
	if *shift > 0 {
		td = &shifted{processed: tp, max: *shift, seed: a.Seed}
	}
	fmt.Fprintf(stderr, "pretrain: ViT hidden %d, %d layers, %d heads, patch %d, %d labels: %d parameters; %d training and %d test images\n",
		cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.PatchSize, cfg.NumLabels,
		countParams(model), trainSet.Len(), testSet.Len())
	r := &trainingRun{args: a, model: model, pc: &pc, trainSet: td, evalSet: ep, resume: resume.v, stderr: stderr,
		comm: comm, measureMem: true}
	_, res, err := r.run()
	if err != nil {
		return err
	}
	mem := r.measure("full", a.PerDeviceTrainBatchSize)
	fmt.Fprintf(stdout, "pretrained %d steps in %s (%.1f ms/step): test loss %.4f, accuracy %.2f%%; model written to %s\n",
		res.GlobalStep, res.Elapsed.Round(1e9), ms(res.StepTime), res.Eval.Loss, 100*res.Eval.Accuracy, a.OutputDir)
	if comm.Rank() != 0 {
		return nil
	}
	return mem.write(stdout, a.OutputDir)
}

func countParams(m nn.Module) int64 {
	var n int64
	for _, p := range nn.AllParams(m) {
		n += int64(p.Len())
	}
	return n
}
