package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Split names a standard part of a dataset.
type Split int

const (
	Train Split = iota // the training part (60,000 images for MNIST)
	Test               // the test part (10,000 images for MNIST)
)

func (s Split) String() string {
	if s == Test {
		return "test"
	}
	return "train"
}

// prefix is the file name prefix of a split in the original idx
// distribution ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz").
func (s Split) prefix() string {
	if s == Test {
		return "t10k"
	}
	return "train"
}

// MNISTClasses and FashionMNISTClasses name the labels 0-9.
var (
	MNISTClasses        = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	FashionMNISTClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
		"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
)

// FashionMNISTDir is where Debian's dataset-fashion-mnist package installs
// the Fashion-MNIST idx files.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// LoadMNIST loads a split of MNIST from MNISTDir.
func LoadMNIST(split Split) (*Dataset, error) {
	dir, err := MNISTDir()
	if err != nil {
		return nil, err
	}
	return LoadIDXDir(dir, split, "mnist", MNISTClasses)
}

// LoadFashionMNIST loads a split of Fashion-MNIST from dir, or from
// FashionMNISTDir when dir is "".
func LoadFashionMNIST(dir string, split Split) (*Dataset, error) {
	if dir == "" {
		dir = FashionMNISTDir
	}
	return LoadIDXDir(dir, split, "fashion-mnist", FashionMNISTClasses)
}

// LoadIDXDir loads a split from a directory holding the original idx file
// names (gzipped or not): train-images-idx3-ubyte[.gz] and
// train-labels-idx1-ubyte[.gz], or t10k-... for Test.
func LoadIDXDir(dir string, split Split, name string, classes []string) (*Dataset, error) {
	images, err := findIDX(dir, split.prefix()+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	labels, err := findIDX(dir, split.prefix()+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	return LoadIDX(images, labels, name+"/"+split.String(), classes)
}

// LoadIDX loads images and labels from an idx file pair. Every label must
// index classes.
func LoadIDX(imagesPath, labelsPath, name string, classes []string) (*Dataset, error) {
	images, err := ReadIDXImages(imagesPath)
	if err != nil {
		return nil, err
	}
	labels, err := ReadIDXLabels(labelsPath)
	if err != nil {
		return nil, err
	}
	if len(images) != len(labels) {
		return nil, fmt.Errorf("data: %s holds %d images but %s holds %d labels", imagesPath, len(images), labelsPath, len(labels))
	}
	d := &Dataset{Name: name, Classes: classes, Images: images, Labels: make([]int, len(labels))}
	for i, l := range labels {
		if int(l) >= len(classes) {
			return nil, fmt.Errorf("data: %s: label %d of example %d is not one of the %d classes", labelsPath, l, i, len(classes))
		}
		d.Labels[i] = int(l)
	}
	return d, nil
}

// findIDX returns dir/base.gz or dir/base, whichever exists.
func findIDX(dir, base string) (string, error) {
	for _, name := range []string{base + ".gz", base} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("data: %w", err)
		}
	}
	return "", fmt.Errorf("data: %s: neither %s.gz nor %s exists", dir, base, base)
}
