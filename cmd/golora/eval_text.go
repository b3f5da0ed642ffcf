package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/adalora"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/tensor"
	"github.com/golora/golora/train"
)

// loadTextForEval loads a text model for task, with the adapter in
// adapterDir (if any) applied and the frozen base stored as base, in
// evaluation mode. A classifier whose head would be freshly initialised is
// refused, with hint saying what to do instead.
func loadTextForEval(modelDir, adapterDir, task string, classes []string, base nn.Storage, hint string) (models.Model, error) {
	m, err := loadTextModel(modelDir, task, classes, 0)
	if err != nil {
		return nil, err
	}
	if adapterDir != "" {
		if _, err := os.Stat(adapterDir); err != nil {
			return nil, fmt.Errorf("adapter directory %s does not exist", adapterDir)
		}
	}
	if task == "classification" {
		if err := checkTrainedHead(m, modelDir, adapterDir, classes, hint); err != nil {
			return nil, err
		}
	}
	if adapterDir != "" {
		var err error
		if adalora.IsAdaLoRA(adapterDir) {
			_, err = adalora.Load(m, adapterDir)
		} else {
			_, err = lora.Load(m, adapterDir)
		}
		if err != nil {
			return nil, err
		}
	}
	if base.DType != tensor.F32 {
		if _, err := models.StoreBase(m, base); err != nil {
			return nil, err
		}
	}
	nn.SetTraining(m, false)
	return m, nil
}

// runEvalText is eval on a text data set: the held-out part's loss and
// perplexity (causal LM) or accuracy (classification).
func runEvalText(modelDir, adapterDir, dataset, split string, batch int, tf *textFlags, base nn.Storage, asJSON bool, stdout io.Writer) error {
	if err := tf.check("eval"); err != nil {
		return err
	}
	tok, corpus, task, err := tf.open(modelDir, dataset)
	if err != nil {
		return err
	}
	if split == "train" { // evaluate the training part instead
		corpus.test, corpus.testLabels = corpus.train, corpus.trainLabels
	}
	hint := fmt.Sprintf("train an adapter first (golora train --model %s --dataset %s --output-dir DIR) and pass --adapter DIR, or pass --task causal-lm to score the texts as a language model", modelDir, dataset)
	m, err := loadTextForEval(modelDir, adapterDir, task, corpus.classes, base, hint)
	if err != nil {
		return err
	}
	tf.evalOnly = true
	td, err := tf.prepareText(corpus, task, tok, m, eosOf(m))
	if err != nil {
		return err
	}
	if err := checkForward(m, min(batch, td.evalSt.Len()), 0); err != nil {
		return err
	}
	res, err := train.Evaluate(m, td.evalSt, batch)
	if err != nil {
		return err
	}
	if asJSON {
		out := map[string]any{"loss": res.Loss, "accuracy": res.Accuracy, "examples": res.Examples, "targets": res.Targets, "task": task}
		if task == "causal-lm" {
			out["perplexity"] = res.Perplexity()
		}
		return json.NewEncoder(stdout).Encode(out)
	}
	unit := fmt.Sprintf("blocks of %d tokens", td.seqLen)
	if task == "classification" {
		unit = "texts"
	}
	fmt.Fprintf(stdout, "%s (%s part): %d %s, %s\n", corpus.name, split, res.Examples, unit, describeEval(task, res))
	return nil
}
