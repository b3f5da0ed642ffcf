package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestDemoSmoke runs the demo for a handful of steps on real MNIST with the
// shipped model: the whole path (embedded base, fresh head, LoRA, training,
// evaluation, adapter output, JSON summary), not the accuracy.
func TestDemoSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("loads MNIST and trains the shipped model; skipped with -short")
	}
	out := filepath.Join(t.TempDir(), "demo")
	code, so, e := golora("demo", "--max-steps", "4", "--per-device-train-batch-size", "16", "--train-limit", "320",
		"--eval-limit", "100", "--json", "--quiet", "--threads", "2", "--output-dir", out)
	if code != 0 {
		t.Fatalf("demo: exit %d: %s", code, e)
	}
	var r demoResult
	if err := json.Unmarshal([]byte(so), &r); err != nil {
		t.Fatalf("demo --json printed %q: %v", so, err)
	}
	if r.Method != "lora" || r.Steps != 4 || r.TrainableParams <= 0 || r.TotalParams <= r.TrainableParams ||
		r.StepMS <= 0 || r.AdapterDir != filepath.Join(out, "lora") || !(r.AccuracyBefore >= 0 && r.AccuracyBefore <= 1) ||
		!(r.AccuracyAfter >= 0 && r.AccuracyAfter <= 1) {
		t.Errorf("summary %+v", r)
	}
	if r.PeakRSSBytes <= 0 {
		if _, err := os.Stat("/proc/self/status"); err == nil {
			t.Errorf("peak RSS %d with /proc available", r.PeakRSSBytes)
		}
	}
	// A fresh 5-way head starts near chance: the "before" figure means it.
	if r.AccuracyBefore > 0.6 {
		t.Errorf("accuracy before fine-tuning %.2f: the head does not look fresh", r.AccuracyBefore)
	}
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		if _, err := os.Stat(filepath.Join(r.AdapterDir, f)); err != nil {
			t.Error(err)
		}
	}
	var m map[string]any
	if json.Unmarshal([]byte(so), &m) != nil {
		t.Fatal("not JSON")
	}
	for _, k := range []string{"accuracy_before", "accuracy_after", "trainable_params", "total_params", "step_ms", "peak_rss_bytes", "adapter_dir"} {
		if _, ok := m[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
}
