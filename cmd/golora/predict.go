package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/golora/golora/data"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/train"
)

func init() {
	commands["predict"] = command{"classify images (or texts, with a text model) with a model (and adapter): label and logits per input", runPredict}
}

// prediction is one image's result.
type prediction struct {
	Image  string    `json:"image"`
	Label  string    `json:"label"`
	ID     int       `json:"label_id"`
	Logits []float32 `json:"logits"`
}

func runPredict(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("predict", "--model DIR [--adapter DIR] [--base-dtype nf4 [--double-quant]] [--json] IMAGE... | TEXT...", stderr)
	modelDir := fs.String("model", "", "model directory (config.json, model.safetensors)")
	adapterDir := fs.String("adapter", "", "PEFT adapter directory to apply")
	asJSON := fs.Bool("json", false, "print one JSON object per image")
	threads := fs.Int("threads", 0, "worker threads (0: all cores)")
	bf := addBaseFlags(fs)
	maxLen := fs.Int("max-seq-length", 128, "text: tokens per text, longer ones truncated")
	side := fs.String("truncation-side", "right", "text: which end of a long text is cut: right keeps its beginning, left its end")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	base, err := bf.storage()
	if err != nil {
		return err
	}
	if *modelDir == "" {
		return usagef("predict: --model is required")
	}
	if hasTokenizer(*modelDir) {
		if fs.NArg() == 0 {
			return usagef("predict: give at least one text to classify")
		}
		if *maxLen < 1 {
			return usagef("predict: --max-seq-length %d: want >= 1", *maxLen)
		}
		if err := setThreads(*threads); err != nil {
			return err
		}
		if *side != "right" && *side != "left" {
			return usagef("predict: --truncation-side %q: want right or left", *side)
		}
		return runPredictText(*modelDir, *adapterDir, fs.Args(), *maxLen, *side, base, *asJSON, stdout)
	}
	if fs.NArg() == 0 {
		return usagef("predict: give at least one image file (PNG or JPEG)")
	}
	if err := setThreads(*threads); err != nil {
		return err
	}
	lm, err := loadModel(*modelDir, *adapterDir, base)
	if err != nil {
		return err
	}
	cl, ok := lm.model.(models.Classifier)
	if !ok || lm.pc == nil {
		return fmt.Errorf("predict: %s is a %s, not an image classifier (see golora generate for language models)", *modelDir, lm.model)
	}
	proc, err := data.NewProcessor(*lm.pc, lm.model.Spec().Channels)
	if err != nil {
		return err
	}
	// Decode and check every image before printing anything.
	paths := fs.Args()
	const chunk = 64
	if err := checkForward(lm.model, min(chunk, len(paths)), len(paths)); err != nil {
		return err
	}
	x := make([]float32, len(paths)*proc.Len())
	for i, path := range paths {
		img, err := data.ReadImage(path)
		if err != nil {
			return err
		}
		if err := proc.Process(x[i*proc.Len():(i+1)*proc.Len()], img); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	nn.SetTraining(lm.model, false)
	labels := cl.Labels()
	var b data.Batch
	enc := json.NewEncoder(stdout)
	for lo := 0; lo < len(paths); lo += chunk {
		k := min(chunk, len(paths)-lo)
		pix, _ := b.SetImages(k, proc.Channels(), proc.Height(), proc.Width())
		copy(pix, x[lo*proc.Len():(lo+k)*proc.Len()])
		logits := lm.model.ForwardBatch(&b)
		c := logits.Dim(-1)
		for i := range k {
			row := append([]float32(nil), logits.F32()[i*c:(i+1)*c]...)
			id := train.Argmax(row)
			p := prediction{Image: paths[lo+i], Label: labels[id], ID: id, Logits: row}
			if *asJSON {
				if err := enc.Encode(p); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(stdout, "%s\t%s\t%v\n", p.Image, p.Label, p.Logits)
		}
	}
	return nil
}
