package models_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/data"
	"github.com/golora/golora/models"
	_ "github.com/golora/golora/models/vit" // registers "vit"
)

func TestFamilyOf(t *testing.T) {
	for _, tc := range []struct {
		config, want, err string
	}{
		{`{"model_type": "vit"}`, "vit", ""},
		{`{"architectures": ["ViTForImageClassification"]}`, "vit", ""},
		{`{"model_type": "t5"}`, "", `model_type "t5" is not supported`},
		{`{"architectures": ["Foo"]}`, "", "no model_type and no known architecture"},
		{`[1, 2]`, "", "not a JSON object"},
		{``, "", "not a JSON object"},
	} {
		f, err := models.FamilyOf([]byte(tc.config))
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.config, err, tc.err)
		case tc.err == "" && (err != nil || f.ModelType != tc.want):
			t.Errorf("%s: %v, %v; want family %s", tc.config, f, err, tc.want)
		}
	}
}

func TestLoadTinyViT(t *testing.T) {
	m, err := models.Load("../testdata/vit-tiny", models.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := data.Spec{Channels: 3, Height: 16, Width: 16, Classes: 5}
	if m.ModelType() != "vit" || m.Spec() != want || m.OutputHead() != "classifier" {
		t.Errorf("%s: type %s, spec %+v, head %q", m, m.ModelType(), m.Spec(), m.OutputHead())
	}
	if _, ok := m.(models.Classifier); !ok {
		t.Error("a ViT is a Classifier")
	}
	c := models.CountParams(m)
	if c.Total != 19461 || c.ByKind["classifier"] != 165 || c.Trainable != 0 {
		t.Errorf("counts %+v", c)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := models.Load(filepath.Join(dir, "none"), models.LoadOptions{}); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("missing directory: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type": "gpt2"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := models.Load(dir, models.LoadOptions{}); err == nil || !strings.Contains(err.Error(), "gpt2") {
		t.Errorf("unknown model_type: %v", err)
	}
	if err := models.CheckDir(dir); err == nil || !strings.Contains(err.Error(), "model.safetensors") {
		t.Errorf("CheckDir: %v", err)
	}
}

func TestPresets(t *testing.T) {
	names := models.PresetNames()
	if len(names) < 2 {
		t.Fatalf("presets %v", names)
	}
	for _, n := range names {
		m, err := models.Preset(n, false, 1)
		if err != nil {
			t.Fatal(err)
		}
		if m.Dims().Hidden <= 0 || m.Spec().Classes <= 0 {
			t.Errorf("%s: dims %+v spec %+v", n, m.Dims(), m.Spec())
		}
	}
	if _, err := models.Preset("nope", false, 1); err == nil || !strings.Contains(err.Error(), names[0]) {
		t.Errorf("unknown preset: %v", err)
	}
}
