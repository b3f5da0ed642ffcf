package assets

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/golora/golora/models/vit"
)

func TestBaseModel(t *testing.T) {
	var total int64
	err := fs.WalkDir(BaseModel(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		total += info.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > 5<<20 {
		t.Errorf("the shipped model takes %d bytes; the budget is 5 MiB", total)
	}
	dir := t.TempDir()
	if err := WriteBaseModel(dir); err != nil {
		t.Fatal(err)
	}
	m, err := vit.Load(dir, vit.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.ImageSize != 28 || c.NumChannels != 1 || c.NumLabels != 5 || c.Labels()[0] != "0" || c.Labels()[4] != "4" {
		t.Errorf("config: image %d, channels %d, labels %v; want 28x28 gray digits 0-4", c.ImageSize, c.NumChannels, c.Labels())
	}
	if _, err := os.Stat(filepath.Join(dir, "preprocessor_config.json")); err != nil {
		t.Error(err)
	}
}
