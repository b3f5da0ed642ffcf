package data

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// LoadImageFolder loads root/<class>/**/*.{png,jpg,jpeg} as torchvision's
// ImageFolder does: each subdirectory of root is a class, classes are
// sorted by name and numbered from 0, and each class's files are taken in
// the order of sorted(os.walk(...)) (directories by path, then files by
// name). Extensions match in any case; other files are ignored.
// Symbolic links to directories are not followed.
//
// Gray images (PNG gray, JPEG gray) keep one channel; everything else is
// converted to RGB, dropping alpha as PIL's convert("RGB") does. PNG
// decoding is exact; Go's JPEG decoder may differ from libjpeg (PIL's) by
// one level in some pixels. All images are decoded into memory up front.
func LoadImageFolder(root string) (*Dataset, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	d := &Dataset{Name: filepath.Base(root)}
	for _, e := range ents { // ReadDir sorts by name
		if e.IsDir() {
			d.Classes = append(d.Classes, e.Name())
		}
	}
	if len(d.Classes) == 0 {
		return nil, fmt.Errorf("data: %s: no class subdirectories", root)
	}
	var empty []string
	for label, class := range d.Classes {
		files, err := classFiles(filepath.Join(root, class))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			empty = append(empty, class)
		}
		for _, path := range files {
			img, err := ReadImage(path)
			if err != nil {
				return nil, err
			}
			d.Images = append(d.Images, img)
			d.Labels = append(d.Labels, label)
		}
	}
	if len(empty) > 0 {
		return nil, fmt.Errorf("data: %s: no .png, .jpg or .jpeg file in class folder(s) %s", root, strings.Join(empty, ", "))
	}
	return d, nil
}

// classFiles lists the image files under dir in torchvision's order.
func classFiles(dir string) ([]string, error) {
	byDir := map[string][]string{}
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".png", ".jpg", ".jpeg":
			byDir[filepath.Dir(path)] = append(byDir[filepath.Dir(path)], e.Name())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	dirs := make([]string, 0, len(byDir))
	for d := range byDir {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	var files []string
	for _, d := range dirs {
		names := byDir[d]
		slices.Sort(names)
		for _, n := range names {
			files = append(files, filepath.Join(d, n))
		}
	}
	return files, nil
}
