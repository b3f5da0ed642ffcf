package assets

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/golora/golora/internal/atomicfile"
)

// BaseModelName is the shipped model's directory name.
const BaseModelName = "vit-mnist-0-4"

//go:embed vit-mnist-0-4/config.json vit-mnist-0-4/model.safetensors vit-mnist-0-4/preprocessor_config.json
var files embed.FS

// BaseModel returns the shipped model directory (config.json,
// model.safetensors, preprocessor_config.json) as a file system.
func BaseModel() fs.FS {
	sub, err := fs.Sub(files, BaseModelName)
	if err != nil {
		panic("assets: " + err.Error()) // the embed pattern guarantees the directory
	}
	return sub
}

// WriteBaseModel writes the shipped model's files into dir, which must
// exist, so that loaders that read directories can use it.
func WriteBaseModel(dir string) error {
	return fs.WalkDir(BaseModel(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := BaseModel().Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		err = atomicfile.WriteFile(filepath.Join(dir, path), func(w io.Writer) error {
			_, err := io.Copy(w, src)
			return err
		}, 0o644)
		if err != nil {
			return fmt.Errorf("assets: %w", err)
		}
		return nil
	})
}
