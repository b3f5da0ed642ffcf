package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/peft"
	"github.com/golora/golora/peft/lora"
)

// TestSweep: one run per rank, each with its adapter at that rank (alpha
// scaled with --alpha-ratio), the table, sweep.json with a row per rank
// (trainable counts growing with r) and the chart.
func TestSweep(t *testing.T) {
	data, model := tinyData(t), tinyModelDir(t)
	out := filepath.Join(t.TempDir(), "sweep")
	code, stdout, stderr := golora("sweep", "--model", model, "--dataset", data, "--max-steps", "3", "--per-device-train-batch-size", "16",
		"--r", "2,4,8", "--alpha-ratio", "2", "--use-dora", "--output-dir", out, "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, SweepJSON))
	if err != nil {
		t.Fatal(err)
	}
	var rep sweepReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 3 {
		t.Fatalf("%d results, want 3", len(rep.Results))
	}
	for i, r := range rep.Results {
		cfg, err := lora.ReadConfig(r.AdapterDir)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{2, 4, 8}[i]; r.R != want || cfg.R != want || cfg.LoraAlpha != float64(2*want) || !cfg.UseDoRA {
			t.Errorf("row %d: r %d, adapter r %d alpha %v dora %v", i, r.R, cfg.R, cfg.LoraAlpha, cfg.UseDoRA)
		}
		if i > 0 && !(r.TrainableParams > rep.Results[i-1].TrainableParams) {
			t.Errorf("trainable params do not grow with r: %d after %d", r.TrainableParams, rep.Results[i-1].TrainableParams)
		}
		if !(r.StepMS > 0) || !(r.PeakBytes > 0) || r.Accuracy < 0 || r.Accuracy > 1 {
			t.Errorf("row %d: %+v", i, r)
		}
		if _, err := os.Stat(filepath.Join(r.AdapterDir, peft.WeightsName)); err != nil {
			t.Error(err)
		}
	}
	if fi, err := os.Stat(filepath.Join(out, SweepChart)); err != nil || fi.Size() == 0 {
		t.Errorf("chart: %v", err)
	}
	if n := strings.Count(stdout, "\n"); n < 5 || !strings.Contains(stdout, "accuracy") {
		t.Errorf("table:\n%s", stdout)
	}
	if code, _, _ := golora("sweep", "--model", model, "--dataset", data, "--r", "4,0", "--output-dir", out); code != 2 {
		t.Errorf("--r 4,0: exit %d, want a usage error", code)
	}
}
