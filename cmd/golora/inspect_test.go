package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const tinyModel = "../../testdata/vit-tiny"

func TestInspectText(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"inspect", tinyModel}, &out, &errb); code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, errb.String())
	}
	for _, want := range []string{
		"ViTForImageClassification (model_type vit)",
		"2 layers, hidden 32, 4 heads of 8, intermediate 64, gelu",
		"16x16, 3 channels, patch 4: 16 patches + CLS = 17 tokens",
		"5: cat, dog, bird, fish, frog",
		"parameters    19,461 (F32 76.0 KiB)",
		"embeddings",
		"classifier           165",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestInspectJSON(t *testing.T) {
	var out, errb bytes.Buffer
	// The flag may follow the directory.
	if code := run([]string{"inspect", tinyModel, "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, errb.String())
	}
	var rep inspectReport
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("output is not the report JSON: %v", err)
	}
	p := rep.Parameters
	k := p.ByKind
	if p.Total != k["embeddings"]+k["attention"]+k["mlp"]+k["layernorm"]+k["classifier"] || p.Total != 19461 {
		t.Errorf("parameters %+v", p)
	}
	c := rep.Config
	if c["tokens"] != 17.0 || c["head_dim"] != 8.0 || len(c["labels"].([]any)) != 5 || rep.ModelType != "vit" {
		t.Errorf("config %+v", rep.Config)
	}
}

func TestInspectErrors(t *testing.T) {
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "config.json"), []byte(`{"model_type": "vit", "hidden_act": "quick_gelu"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"inspect"}, 2, "MODEL_DIR"},
		{[]string{"inspect", tinyModel, tinyModel}, 2, "MODEL_DIR"},
		{[]string{"inspect", "--bogus", tinyModel}, 2, "bogus"},
		{[]string{"inspect", filepath.Join(t.TempDir(), "none")}, 1, "config.json"},
		{[]string{"inspect", bad}, 1, "hidden_act"},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		msg := errb.String()
		// Failures are one line; usage errors may add the usage text.
		if code != tc.code || !strings.Contains(msg, tc.want) || code == 1 && strings.Count(msg, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and an error naming %q", tc.args, code, msg, tc.code, tc.want)
		}
	}
}
