package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/golora/golora/data"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/train"
)

// textPrediction is one text's result.
type textPrediction struct {
	Text          string    `json:"text"`
	Label         string    `json:"label"`
	ID            int       `json:"label_id"`
	Probabilities []float64 `json:"probabilities"`
}

// hasTokenizer reports whether dir is a text model's directory.
func hasTokenizer(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, TokenizerFile))
	return err == nil
}

// runPredictText classifies texts with a text classifier: a model with a
// classification head, or a base with a classification adapter (whose
// labels.json names the classes).
func runPredictText(modelDir, adapterDir string, texts []string, maxLen int, side string, base nn.Storage, asJSON bool, stdout io.Writer) error {
	tok, err := loadTokenizer(modelDir, "")
	if err != nil {
		return err
	}
	var classes []string
	if adapterDir != "" {
		if classes, err = readLabels(adapterDir); err != nil {
			return fmt.Errorf("adapter %s has no %s naming the classes of its head: %w", adapterDir, labelsFile, err)
		}
	} else {
		m, err := models.Load(modelDir, models.LoadOptions{})
		if err != nil {
			return err
		}
		c, ok := m.(models.Classifier)
		if !ok {
			return fmt.Errorf("predict: %s is a %s, not a classifier (see golora generate for language models)", modelDir, m)
		}
		classes = c.Labels()
	}
	hint := fmt.Sprintf("train a classification adapter first (golora train --model %s --dataset DATA --output-dir DIR) and pass --adapter DIR (golora generate runs a language model)", modelDir)
	m, err := loadTextForEval(modelDir, adapterDir, "classification", classes, base, hint)
	if err != nil {
		return err
	}
	seqs, err := tokenizeClassification(tok, texts, min(maxLen, m.Spec().SeqLen), side)
	if err != nil {
		return err
	}
	if err := checkVocab(seqs, m.Spec().Vocab, "input"); err != nil {
		return err
	}
	pad, _ := padID(tok, eosOf(m))
	ds := &train.Tokens{Seqs: seqs, Labels: make([]int32, len(seqs)), Pad: pad}
	enc := json.NewEncoder(stdout)
	var b data.Batch
	for i, t := range texts {
		ds.Fill(&b, []int{i})
		logits := m.ForwardBatch(&b).F32()
		p := textPrediction{Text: t, ID: train.Argmax(logits), Probabilities: softmax64(logits)}
		p.Label = classes[p.ID]
		if asJSON {
			if err := enc.Encode(p); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(stdout, "%s\t%.3f\t%q\n", p.Label, p.Probabilities[p.ID], t)
	}
	return nil
}

func softmax64(x []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = max(mx, float64(v))
	}
	out := make([]float64, len(x))
	var s float64
	for i, v := range x {
		out[i] = math.Exp(float64(v) - mx)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}
