package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/golora/golora/train"
)

func init() {
	commands["eval"] = command{"evaluate a model (and adapter) on a dataset: loss and accuracy (perplexity for language models)", runEval}
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", "--model DIR [--adapter DIR] (--data DIR | --dataset NAME) [--classes 5-9] [--base-dtype nf4 [--double-quant]] [--json]", stderr)
	tf := textFlags{}
	tf.register(fs)
	modelDir := fs.String("model", "", "model directory (config.json, model.safetensors)")
	adapterDir := fs.String("adapter", "", "PEFT adapter directory to apply")
	dataDir := fs.String("data", "", "data directory (idx files or image folders); its test part is evaluated")
	dataset := fs.String("dataset", "", "mnist or fashion-mnist (instead of --data); text: imdb, sotu, moby-dick or a directory of .txt files")
	classes := fs.String("classes", "", "keep only these classes, renumbered from 0 (e.g. 5-9)")
	split := fs.String("split", "test", "which part to evaluate: test or train")
	batch := fs.Int("batch-size", 64, "images per batch")
	limit := fs.Int("limit", 0, "evaluate only the first N images (0: all)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	threads := fs.Int("threads", 0, "worker threads (0: all cores)")
	bf := addBaseFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	base, err := bf.storage()
	if err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("eval: unexpected argument %q", fs.Arg(0))
	case *modelDir == "":
		return usagef("eval: --model is required")
	case (*dataDir == "") == (*dataset == ""):
		return usagef("eval: give exactly one of --data and --dataset")
	case *dataDir != "" && (*dataDir == "mnist" || *dataDir == "fashion-mnist"):
		return usagef("eval: --data takes a directory; use --dataset %s", *dataDir)
	case *split != "test" && *split != "train":
		return usagef("eval: --split %q: want test or train", *split)
	case *batch < 1:
		return usagef("eval: --batch-size %d: want >= 1", *batch)
	case *limit < 0:
		return usagef("eval: --limit %d: want >= 0", *limit)
	}
	if err := setThreads(*threads); err != nil {
		return err
	}
	if spec := *dataDir + *dataset; isTextDataset(spec) {
		if *classes != "" || *limit != 0 {
			return usagef("eval: --classes and --limit are for images (text: --max-eval-samples)")
		}
		return runEvalText(*modelDir, *adapterDir, spec, *split, *batch, &tf, base, *asJSON, stdout)
	}
	src := dataSource{spec: *dataDir + *dataset}
	if *classes != "" {
		cl, err := parseClasses(*classes)
		if err != nil {
			return usagef("eval: %v", err)
		}
		src.classes = cl
	}
	lm, err := loadModel(*modelDir, *adapterDir, base)
	if err != nil {
		return err
	}
	trainSet, testSet, err := src.load(0)
	if err != nil {
		return err
	}
	ds := testSet
	if *split == "train" {
		ds = trainSet
	}
	ds = ds.Limit(*limit)
	if n, k := len(ds.Classes), lm.model.Spec().Classes; n != k {
		return fmt.Errorf("the data has %d classes but the model has %d labels (use --classes or an adapter with a matching head)", n, k)
	}
	if err := checkForward(lm.model, min(*batch, ds.Len()), 0); err != nil {
		return err
	}
	p, err := newProcessed(ds, lm.pc, lm.model.Spec())
	if err != nil {
		return err
	}
	res, err := train.Evaluate(lm.model, p, *batch)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"loss": res.Loss, "accuracy": res.Accuracy, "examples": res.Examples})
	}
	fmt.Fprintf(stdout, "%s: %d images, loss %.4f, accuracy %.2f%%\n", ds.Name, res.Examples, res.Loss, 100*res.Accuracy)
	return nil
}
