package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golora/golora/models/vit"
)

func TestMergeCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "merged")
	var so, se bytes.Buffer
	code := run([]string{"merge", "--model", "../../testdata/vit-tiny", "--adapter", "../../testdata/lora/adapter", "--out", out}, &so, &se)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	if _, err := vit.Load(out, vit.LoadOptions{}); err != nil {
		t.Fatalf("merged model does not load as a plain ViT: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, ProcessorFile)); err != nil {
		t.Errorf("merged model lacks the base's %s: %v", ProcessorFile, err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"merge", "--model", "x"}, 2, "required"},
		{[]string{"merge", "--bogus"}, 2, "bogus"},
		{[]string{"merge", "--model", "../../testdata/vit-tiny", "--adapter", "../../testdata/nope", "--out", filepath.Join(t.TempDir(), "o")}, 1, "does not exist"},
		{[]string{"merge", "--model", "../../testdata/vit-tiny", "--adapter", "../../testdata/lora/adapter", "--out", out}, 1, "not empty"},
	} {
		se.Reset()
		if code := run(tc.args, &so, &se); code != tc.code || !strings.Contains(se.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, se.String(), tc.code, tc.want)
		}
	}
}

func TestInspectAdapter(t *testing.T) {
	var so, se bytes.Buffer
	if code := run([]string{"inspect", "--adapter", "../../testdata/lora-rank-pattern/adapter", "--json"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	var rep struct {
		Adapter adapterReport `json:"adapter"`
	}
	if err := json.Unmarshal(so.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	a := rep.Adapter
	// rank_pattern: layer.0 query r=5, layer.0 value 3, layer.1 query 4, layer.1 value 2 (in 32, out 32).
	if a.R != 4 || len(a.Tensors) != 10 || a.LoraParams != (5+3+4+2)*64 || a.OtherParams != 165 {
		t.Errorf("report %+v", a)
	}
	// An adapter directory given where a model directory goes is
	// described as with --adapter.
	var pos bytes.Buffer
	if code := run([]string{"inspect", "../../testdata/lora-rank-pattern/adapter", "--json"}, &pos, &se); code != 0 || pos.String() != so.String() {
		t.Errorf("inspect ADAPTER_DIR: exit %d, %d bytes of report against %d with --adapter: %s", code, pos.Len(), so.Len(), se.String())
	}
	so.Reset()
	if code := run([]string{"inspect", "../../testdata/vit-tiny", "--adapter", "../../testdata/lora/adapter"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	if !strings.Contains(so.String(), "trainable params: 1,189 || all params: 20,650 || trainable%: 5.7579") {
		t.Errorf("no PEFT trainable line in:\n%s", so.String())
	}
}

// TestAdapterLabelNames: the labels.json that train writes beside an
// adapter names its head's outputs; predict and merge use those names even
// when the base's head has as many labels under other names (a ViT
// pretrained on digits 0-4, fine-tuned on 5-9).
func TestAdapterLabelNames(t *testing.T) {
	dir := t.TempDir()
	adapter := filepath.Join(dir, "adapter")
	if err := os.MkdirAll(adapter, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		b, err := os.ReadFile(filepath.Join("../../testdata/lora/adapter", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(adapter, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"ant", "bee", "cow", "doe", "eel"} // the base says cat, dog, bird, fish, frog
	if err := writeLabels(adapter, names); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "x.png")
	writePNG(t, img, 16)
	var so, se bytes.Buffer
	if code := run([]string{"predict", "--model", "../../testdata/vit-tiny", "--adapter", adapter, "--json", img}, &so, &se); code != 0 {
		t.Fatalf("predict: exit %d: %s", code, se.String())
	}
	var p prediction // one JSON object a line, one image
	if err := json.Unmarshal(so.Bytes(), &p); err != nil {
		t.Fatalf("predict JSON %q: %v", so.String(), err)
	}
	if p.Label != names[p.ID] {
		t.Errorf("predicted label %q for id %d, want %q", p.Label, p.ID, names[p.ID])
	}
	out := filepath.Join(dir, "merged")
	if code := run([]string{"merge", "--model", "../../testdata/vit-tiny", "--adapter", adapter, "--out", out}, &so, &se); code != 0 {
		t.Fatalf("merge: exit %d: %s", code, se.String())
	}
	m, err := vit.Load(out, vit.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Config.Labels(); !slices.Equal(got, names) {
		t.Errorf("merged model's labels %v, want %v", got, names)
	}
}
