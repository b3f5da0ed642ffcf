package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/golora/golora/data"
	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft"
	"github.com/golora/golora/peft/adalora"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// ProcessorFile is a model directory's preprocessing config.
const ProcessorFile = "preprocessor_config.json"

// checkModelDir gives a one-line error naming what is missing from a model
// directory before anything is loaded.
func checkModelDir(dir string) error { return models.CheckDir(dir) }

// loadProcessorConfig reads dir/preprocessor_config.json for an image
// model of spec, or, when the directory has none, ViTImageProcessor's
// defaults resized to the model's image size. Text models have none (nil).
func loadProcessorConfig(dir string, spec data.Spec) (*data.ProcessorConfig, error) {
	if spec.Text() {
		return nil, nil
	}
	path := filepath.Join(dir, ProcessorFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		pc := data.DefaultProcessorConfig()
		pc.Height, pc.Width = spec.Height, spec.Width
		// ViTImageProcessor's mean = std = 0.5, one value per channel.
		pc.ImageMean, pc.ImageStd = make([]float64, spec.Channels), make([]float64, spec.Channels)
		for i := range pc.ImageMean {
			pc.ImageMean[i], pc.ImageStd[i] = 0.5, 0.5
		}
		return &pc, nil
	}
	pc, err := data.LoadProcessorConfig(path)
	if err != nil {
		return nil, err
	}
	if pc.Height != spec.Height || pc.Width != spec.Width {
		return nil, fmt.Errorf("%s: size %dx%d does not match the image size %dx%d of %s", path, pc.Height, pc.Width, spec.Height, spec.Width, models.ConfigFile)
	}
	return &pc, nil
}

// writeProcessorConfig writes pc as ViTImageProcessor's
// preprocessor_config.json into dir.
func writeProcessorConfig(dir string, pc data.ProcessorConfig) error {
	m := map[string]any{
		"image_processor_type": "ViTImageProcessor",
		"do_resize":            pc.DoResize,
		"size":                 map[string]int{"height": pc.Height, "width": pc.Width},
		"resample":             pc.Resample,
		"do_rescale":           pc.DoRescale,
		"rescale_factor":       pc.RescaleFactor,
		"do_normalize":         pc.DoNormalize,
		"image_mean":           pc.ImageMean,
		"image_std":            pc.ImageStd,
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ProcessorFile), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}, 0o644)
}

// grayProcessorConfig is the preprocessing golora's own MNIST-style models
// use: no resizing (an image of another size is an error), [0, 255] to
// [-1, 1] for each of the channels.
func grayProcessorConfig(size, channels int) data.ProcessorConfig {
	pc := data.DefaultProcessorConfig()
	pc.DoResize = false
	pc.Height, pc.Width = size, size
	pc.ImageMean, pc.ImageStd = make([]float64, channels), make([]float64, channels)
	for i := range channels {
		pc.ImageMean[i], pc.ImageStd[i] = 0.5, 0.5
	}
	return pc
}

// saveModelDir writes a full model (config.json, model.safetensors) and,
// for an image model, its preprocessor_config.json into dir.
func saveModelDir(m models.Model, pc *data.ProcessorConfig, dir string) error {
	if err := m.Save(dir); err != nil {
		return err
	}
	if pc == nil {
		return nil
	}
	return writeProcessorConfig(dir, *pc)
}

// loadedModel is a model ready to run: the base, its preprocessing (image
// models), and the LoRA wrapper when an adapter was loaded.
type loadedModel struct {
	model   models.Model
	pc      *data.ProcessorConfig
	lora    *lora.Model
	adalora *adalora.Model // instead of lora, for an AdaLoRA adapter
}

// loadModel reads a model directory (and, if adapterDir is set, a PEFT
// adapter onto it) for inference, with the base's frozen Linear weights
// stored as base (e.g. NF4: QLoRA inference, the adapter on the quantised
// base it was trained on).
func loadModel(dir, adapterDir string, base nn.Storage) (*loadedModel, error) {
	m, err := models.Load(dir, models.LoadOptions{})
	if err != nil {
		return nil, err
	}
	lm := &loadedModel{model: m}
	if adapterDir != "" {
		if _, err := os.Stat(adapterDir); err != nil {
			return nil, fmt.Errorf("adapter directory %s does not exist", adapterDir)
		}
		// A sequence-classification adapter on a language model's
		// checkpoint (as train on a labelled text data set writes it):
		// the model with a classification head (score) under it.
		if _, ok := m.(models.Classifier); !ok && adapterTaskType(adapterDir) == "SEQ_CLS" {
			if c, err := models.Load(dir, models.LoadOptions{NumLabels: 2}); err == nil {
				if _, ok := c.(models.Classifier); ok {
					m, lm.model = c, c
				}
			}
		}
		// modules_to_save (a classification head) may have another number
		// of labels than the base: size the head from the adapter first.
		if c, ok := m.(models.Classifier); ok {
			n, names, err := adapterLabels(adapterDir, m.OutputHead())
			if err != nil {
				return nil, err
			}
			// Reload also when only the names differ: the labels.json
			// written beside the adapter (digits 5-9 over a base's 0-4)
			// names what the adapter's head predicts.
			if n > 0 && (n != len(c.Labels()) || names != nil && !slices.Equal(names, c.Labels())) {
				if names == nil {
					names = defaultLabels(n)
				}
				if m, err = models.Load(dir, models.LoadOptions{NumLabels: n, Labels: names}); err != nil {
					return nil, err
				}
				lm.model = m
			}
		}
		if adalora.IsAdaLoRA(adapterDir) {
			lm.adalora, err = adalora.Load(m, adapterDir)
		} else {
			lm.lora, err = lora.Load(m, adapterDir)
		}
		if err != nil {
			return nil, err
		}
		nn.SetTraining(m, false)
	}
	if base.DType != tensor.F32 {
		if _, err := models.StoreBase(lm.model, base); err != nil {
			return nil, err
		}
	}
	if lm.pc, err = loadProcessorConfig(dir, lm.model.Spec()); err != nil {
		return nil, err
	}
	return lm, nil
}

// defaultLabels are transformers' label names LABEL_0 … LABEL_{n-1}.
func defaultLabels(n int) []string {
	l := make([]string, n)
	for i := range l {
		l[i] = "LABEL_" + strconv.Itoa(i)
	}
	return l
}

// adapterLabels returns the number of outputs of the classification head
// (the module named head) an adapter stores (0 if it stores none) and the
// label names saved beside it.
func adapterLabels(dir, head string) (int, []string, error) {
	f, err := safetensors.Load(filepath.Join(dir, peft.WeightsName))
	if err != nil {
		return 0, nil, err
	}
	info, ok := f.Info(peft.StateKey(head + ".weight"))
	if !ok || len(info.Shape) != 2 {
		return 0, nil, nil
	}
	shape := info.Shape
	names, _ := readLabels(dir)
	if names != nil && len(names) != shape[0] {
		names = nil
	}
	return shape[0], names, nil
}

// adapterTaskType is the task_type of the PEFT adapter in dir ("" when
// unreadable; loading the adapter reports the error).
func adapterTaskType(dir string) string {
	b, err := sizecheck.ReadFile(filepath.Join(dir, peft.ConfigName), sizecheck.MaxConfigFile)
	if err != nil {
		return ""
	}
	var c struct {
		TaskType *string `json:"task_type"`
	}
	if json.Unmarshal(b, &c) != nil || c.TaskType == nil {
		return ""
	}
	return *c.TaskType
}

// labelsFile keeps the label names of a fine-tuned head beside its adapter
// (PEFT stores none; transformers would keep them in the base's config).
const labelsFile = "labels.json"

func writeLabels(dir string, names []string) error {
	b, _ := json.Marshal(names)
	return atomicfile.WriteFile(filepath.Join(dir, labelsFile), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}, 0o644)
}

func readLabels(dir string) ([]string, error) {
	b, err := sizecheck.ReadFile(filepath.Join(dir, labelsFile), sizecheck.MaxConfigFile)
	if err != nil {
		return nil, err
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, labelsFile), err)
	}
	return names, nil
}

// classNames returns the dataset's class names, or "0".."n-1".
func classNames(ds *data.Dataset) []string {
	if len(ds.Classes) > 0 {
		return ds.Classes
	}
	names := make([]string, 0)
	for i := range ds.ClassCounts() {
		names = append(names, strconv.Itoa(i))
	}
	return names
}
