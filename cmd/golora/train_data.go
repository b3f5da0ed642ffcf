package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/golora/golora/data"
	"github.com/golora/golora/train"
)

// dataSource names where examples come from: "mnist", "fashion-mnist", or
// a directory holding idx files (train-images-idx3-ubyte[.gz], ...) or
// image folders (DIR/train/<class>/*.png and DIR/test/<class>/*.png, or
// DIR/<class>/*.png, then split for validation).
type dataSource struct {
	spec    string
	classes []int // keep these classes, renumbered 0..k-1 (nil: all)
}

// newDataSource parses --dataset and --classes of command cmd.
func newDataSource(cmd, spec, classes string) (dataSource, error) {
	src := dataSource{spec: spec}
	if classes != "" {
		cl, err := parseClasses(classes)
		if err != nil {
			return src, usagef("%s: %v", cmd, err)
		}
		src.classes = cl
	}
	return src, nil
}

// hasIDX reports whether dir holds the idx files of a split.
func hasIDX(dir string, prefix string) bool {
	for _, n := range []string{prefix + "-images-idx3-ubyte", prefix + "-images-idx3-ubyte.gz"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}

// load returns the training and test parts. A folder of images without
// train/ and test/ sub-folders is split 90/10 by seed.
func (s dataSource) load(seed uint64) (trainSet, testSet *data.Dataset, err error) {
	switch s.spec {
	case "mnist":
		if trainSet, err = data.LoadMNIST(data.Train); err == nil {
			testSet, err = data.LoadMNIST(data.Test)
		}
	case "fashion-mnist":
		if trainSet, err = data.LoadFashionMNIST("", data.Train); err == nil {
			testSet, err = data.LoadFashionMNIST("", data.Test)
		}
	default:
		dir := s.spec
		fi, statErr := os.Stat(dir)
		switch {
		case errors.Is(statErr, fs.ErrNotExist):
			return nil, nil, fmt.Errorf("data directory %s does not exist (want mnist, fashion-mnist or a directory)", dir)
		case statErr != nil:
			return nil, nil, statErr
		case !fi.IsDir():
			return nil, nil, fmt.Errorf("data: %s is not a directory", dir)
		}
		name := filepath.Base(filepath.Clean(dir))
		switch {
		case hasIDX(dir, "train") || hasIDX(dir, "t10k"):
			if trainSet, err = data.LoadIDXDir(dir, data.Train, name, data.MNISTClasses); err == nil {
				testSet, err = data.LoadIDXDir(dir, data.Test, name, data.MNISTClasses)
			}
		case isDir(filepath.Join(dir, "train")) && isDir(filepath.Join(dir, "test")):
			if trainSet, err = data.LoadImageFolder(filepath.Join(dir, "train")); err == nil {
				testSet, err = data.LoadImageFolder(filepath.Join(dir, "test"))
			}
			if err == nil && fmt.Sprint(trainSet.Classes) != fmt.Sprint(testSet.Classes) {
				err = fmt.Errorf("data: %s/train has classes %v but %s/test has %v", dir, trainSet.Classes, dir, testSet.Classes)
			}
		default:
			var all *data.Dataset
			if all, err = data.LoadImageFolder(dir); err == nil {
				trainSet, testSet, err = all.SplitValidation(0.1, seed)
			}
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if s.classes != nil {
		if trainSet, err = trainSet.SelectClasses(s.classes...); err != nil {
			return nil, nil, err
		}
		if testSet, err = testSet.SelectClasses(s.classes...); err != nil {
			return nil, nil, err
		}
	}
	if trainSet.Len() == 0 || testSet.Len() == 0 {
		return nil, nil, fmt.Errorf("data: %s: no examples left (train %d, test %d)", s.spec, trainSet.Len(), testSet.Len())
	}
	return trainSet, testSet, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// processed is a data.Dataset seen through a model's preprocessing: a
// train.Dataset of images. Every image is checked once by newProcessed, so
// Example cannot fail.
type processed struct {
	ds    *data.Dataset
	proc  *data.Processor
	shape []int
}

var _ train.Dataset = (*processed)(nil)

func newProcessed(ds *data.Dataset, pc *data.ProcessorConfig, spec data.Spec) (*processed, error) {
	if pc == nil || spec.Text() {
		return nil, fmt.Errorf("%s is a set of images, but the model reads text", ds.Name)
	}
	proc, err := data.NewProcessor(*pc, spec.Channels)
	if err != nil {
		return nil, err
	}
	for i, img := range ds.Images {
		if err := proc.Check(img); err != nil {
			return nil, fmt.Errorf("%s: example %d: %w", ds.Name, i, err)
		}
	}
	return &processed{ds: ds, proc: proc, shape: []int{proc.Channels(), proc.Height(), proc.Width()}}, nil
}

func (p *processed) Len() int                      { return p.ds.Len() }
func (p *processed) Fill(b *data.Batch, idx []int) { train.ImageDataset(p).Fill(b, idx) }
func (p *processed) Shape() []int                  { return p.shape }
func (p *processed) Example(i int, dst []float32) int32 {
	if err := p.proc.Process(dst, p.ds.Images[i]); err != nil {
		panic("golora: image checked before training failed: " + err.Error())
	}
	return int32(p.ds.Labels[i])
}
