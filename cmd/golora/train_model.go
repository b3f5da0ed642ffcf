package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/golora/golora/data"
	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/safetensors"
)

// ProcessorFile is a model directory's preprocessing config.
const ProcessorFile = "preprocessor_config.json"

// checkModelDir gives a one-line error naming what is missing from a model
// directory before anything is loaded.
func checkModelDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("model directory %s does not exist", dir)
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("model: %s is not a directory", dir)
	}
	for _, f := range []string{vit.ConfigFile, vit.WeightsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("model directory %s has no %s", dir, f)
		}
	}
	return nil
}

// loadProcessorConfig reads dir/preprocessor_config.json, or, when the
// directory has none, ViTImageProcessor's defaults resized to the model's
// image size.
func loadProcessorConfig(dir string, cfg *vit.Config) (data.ProcessorConfig, error) {
	path := filepath.Join(dir, ProcessorFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		pc := data.DefaultProcessorConfig()
		pc.Height, pc.Width = cfg.ImageSize, cfg.ImageSize
		// ViTImageProcessor's mean = std = 0.5, one value per channel.
		pc.ImageMean, pc.ImageStd = make([]float64, cfg.NumChannels), make([]float64, cfg.NumChannels)
		for i := range pc.ImageMean {
			pc.ImageMean[i], pc.ImageStd[i] = 0.5, 0.5
		}
		return pc, nil
	}
	pc, err := data.LoadProcessorConfig(path)
	if err != nil {
		return pc, err
	}
	if pc.Height != cfg.ImageSize || pc.Width != cfg.ImageSize {
		return pc, fmt.Errorf("%s: size %dx%d does not match image_size %d of %s", path, pc.Height, pc.Width, cfg.ImageSize, vit.ConfigFile)
	}
	return pc, nil
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

// saveModelDir writes a full model (config.json, model.safetensors) and its
// preprocessor_config.json into dir.
func saveModelDir(m *vit.Model, pc data.ProcessorConfig, dir string) error {
	if err := m.Save(dir); err != nil {
		return err
	}
	return writeProcessorConfig(dir, pc)
}

// loadedModel is a model ready to run: the ViT, its preprocessing, and the
// LoRA wrapper when an adapter was loaded.
type loadedModel struct {
	vit  *vit.Model
	pc   data.ProcessorConfig
	lora *lora.Model
}

// loadModel reads a model directory (and, if adapterDir is set, a PEFT
// adapter onto it) for inference.
func loadModel(dir, adapterDir string) (*loadedModel, error) {
	if err := checkModelDir(dir); err != nil {
		return nil, err
	}
	m, err := vit.Load(dir, vit.LoadOptions{})
	if err != nil {
		return nil, err
	}
	pc, err := loadProcessorConfig(dir, &m.Config)
	if err != nil {
		return nil, err
	}
	lm := &loadedModel{vit: m, pc: pc}
	if adapterDir != "" {
		if _, err := os.Stat(adapterDir); err != nil {
			return nil, fmt.Errorf("adapter directory %s does not exist", adapterDir)
		}
		// modules_to_save (the classifier) may have another number of
		// labels than the base: size the head from the adapter first.
		if n, names, err := adapterLabels(adapterDir); err != nil {
			return nil, err
		} else if n > 0 && n != m.Config.NumLabels {
			if m, err = vit.Load(dir, vit.LoadOptions{NumLabels: n, Labels: names}); err != nil {
				return nil, err
			}
			lm.vit = m
		}
		if lm.lora, err = lora.Load(m, adapterDir); err != nil {
			return nil, err
		}
		nn.SetTraining(m, false)
	}
	return lm, nil
}

// adapterLabels returns the number of outputs of the classifier an adapter
// stores (0 if it stores none) and the label names saved beside it.
func adapterLabels(dir string) (int, []string, error) {
	f, err := safetensors.Load(filepath.Join(dir, peft.WeightsName))
	if err != nil {
		return 0, nil, err
	}
	info, ok := f.Info(peft.StateKey("classifier.weight"))
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
	b, err := os.ReadFile(filepath.Join(dir, labelsFile))
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
