package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/peft"
)

// TestTrainFamilyFlags: golora train with DoRA, PiSSA (saved converted),
// OLoRA, LoRA+ and AdaLoRA writes adapters whose config says so and that
// golora eval reads back to the accuracy the run reported; misuse is a
// usage error.
func TestTrainFamilyFlags(t *testing.T) {
	data, model := tinyData(t), tinyModelDir(t)
	common := []string{"train", "--model", model, "--dataset", data, "--max-steps", "8", "--per-device-train-batch-size", "16",
		"--learning-rate", "1e-2", "--r", "4", "--quiet"}
	for _, tc := range []struct {
		name  string
		flags []string
		want  map[string]any // adapter_config.json fields
	}{
		{"dora", []string{"--use-dora"}, map[string]any{"use_dora": true, "peft_type": "LORA"}},
		{"pissa", []string{"--init-lora-weights", "pissa"}, map[string]any{"init_lora_weights": true, "r": 8.0}},
		{"olora", []string{"--init-lora-weights", "olora", "--lora-dropout", "0.1"}, map[string]any{"init_lora_weights": true, "r": 8.0}},
		{"gaussian-loraplus", []string{"--init-lora-weights", "gaussian", "--loraplus-lr-ratio", "16"}, map[string]any{"init_lora_weights": "gaussian"}},
		{"adalora", []string{"--method", "adalora", "--init-r", "6", "--target-r", "2", "--tinit", "2", "--tfinal", "2", "--delta-t", "2"},
			map[string]any{"peft_type": "ADALORA", "init_r": 6.0, "total_step": 8.0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, stdout, stderr := golora(append(append(common, "--output-dir", out), tc.flags...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			b, err := os.ReadFile(filepath.Join(out, peft.ConfigName))
			if err != nil {
				t.Fatal(err)
			}
			var cfg map[string]any
			if err := json.Unmarshal(b, &cfg); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if cfg[k] != v {
					t.Errorf("%s = %v, want %v", k, cfg[k], v)
				}
			}
			acc := stdout[strings.Index(stdout, "accuracy"):]
			acc = acc[:strings.Index(acc, ";")]
			code, evOut, evErr := golora("eval", "--model", model, "--adapter", out, "--dataset", data)
			if code != 0 {
				t.Fatalf("eval: exit %d: %s", code, evErr)
			}
			if !strings.Contains(evOut, acc) {
				t.Errorf("eval reports %q, training reported %q", strings.TrimSpace(evOut), acc)
			}
		})
	}
	for _, bad := range [][]string{
		{"--method", "adalora", "--use-dora"},
		{"--method", "full", "--loraplus-lr-ratio", "4"},
		{"--init-lora-weights", "loftq"},
		{"--loraplus-lr-ratio", "-1"},
		{"--method", "adalora", "--target-r", "20"},
	} {
		code, _, stderr := golora(append(append(common, "--output-dir", filepath.Join(t.TempDir(), "bad")), bad...)...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") > 0 && !strings.Contains(stderr, "Usage") {
			t.Errorf("%v: exit %d, stderr %q; want a one-line usage error", bad, code, stderr)
		}
	}
}
