package main

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/safetensors"
)

// TestQLoRAWorkflowCLI is QLoRA from the command line: LoRA trained over a
// double-quantised NF4 base, then evaluated and used for prediction on that
// base and on the f32 base, and merged into the NF4 base as a plain f32
// model that evaluates as the adapter on the NF4 base does.
func TestQLoRAWorkflowCLI(t *testing.T) {
	dataDir := tinyData(t)
	model := tinyModelDir(t)
	ad := filepath.Join(t.TempDir(), "qlora")
	nf4 := []string{"--base-dtype", "nf4", "--double-quant"}
	code, so, e := golora(append([]string{"train", "--model", model, "--dataset", dataDir, "--output-dir", ad, "--max-steps", "6",
		"--per-device-train-batch-size", "8", "--per-device-eval-batch-size", "8", "--r", "4", "--lora-alpha", "8",
		"--learning-rate", "1e-2", "--quiet", "--threads", "1"}, nf4...)...)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	if m := readMemory(t, ad); m.BaseDType != "nf4-dq" || m.PeakBytes["weights_nf4"] <= 0 || m.PeakBytes["weights_nf4"] != m.PlannedBytes["weights_nf4"] {
		t.Errorf("memory.json: base %q, NF4 weights measured %d planned %d", m.BaseDType, m.PeakBytes["weights_nf4"], m.PlannedBytes["weights_nf4"])
	}
	if !regexpLine(so, "  nf4", "MiB", "MiB") {
		t.Errorf("no nf4 weights row in the breakdown:\n%s", so)
	}
	trainerLoss := lastEvalLoss(t, ad)

	type evalOut struct {
		Loss, Accuracy float64
		Examples       int
	}
	eval := func(extra ...string) evalOut {
		t.Helper()
		args := append([]string{"eval", "--data", dataDir, "--json", "--batch-size", "5"}, extra...)
		code, so, e := golora(args...)
		var r evalOut
		if code != 0 || json.Unmarshal([]byte(so), &r) != nil || r.Examples != 32 {
			t.Fatalf("eval %v: exit %d, %q, %s", extra, code, so, e)
		}
		return r
	}
	onNF4 := eval(append([]string{"--model", model, "--adapter", ad}, nf4...)...)
	onF32 := eval("--model", model, "--adapter", ad)
	// The trainer evaluated the same model in batches of 8: the same loss.
	if d := math.Abs(onNF4.Loss - trainerLoss); d > 1e-5*trainerLoss {
		t.Errorf("eval over the NF4 base: loss %v, the trainer's final evaluation %v", onNF4.Loss, trainerLoss)
	}
	if onF32.Loss == onNF4.Loss {
		t.Error("the adapter gives the same loss on the f32 and the NF4 base: the base dtype was not applied")
	}
	t.Logf("loss with the adapter: %.5f over the NF4 base, %.5f over the f32 base", onNF4.Loss, onF32.Loss)

	// Merged into the NF4 base: an f32 model computing dequant(W) + s·B·A.
	merged := filepath.Join(t.TempDir(), "merged")
	if code, so, e := golora(append([]string{"merge", "--model", model, "--adapter", ad, "--out", merged}, nf4...)...); code != 0 || !strings.Contains(so, "nf4-dq (dequantised)") {
		t.Fatalf("merge: exit %d, %q, %s", code, so, e)
	}
	f, err := safetensors.Load(filepath.Join(merged, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range f.Names() {
		if info, _ := f.Info(name); info.DType != "F32" {
			t.Errorf("merged %s is %s, want F32", name, info.DType)
		}
	}
	m := eval("--model", merged)
	if d := math.Abs(m.Loss - onNF4.Loss); d > 1e-5*onNF4.Loss || m.Accuracy != onNF4.Accuracy {
		t.Errorf("merged model: loss %v, accuracy %v; the adapter over the NF4 base %v, %v", m.Loss, m.Accuracy, onNF4.Loss, onNF4.Accuracy)
	}

	png := filepath.Join(t.TempDir(), "x.png")
	writePNG(t, png, 8)
	var preds [2]prediction
	for i, extra := range [][]string{nf4, nil} {
		code, so, e := golora(append(append([]string{"predict", "--model", model, "--adapter", ad, "--json"}, extra...), png)...)
		if code != 0 || json.Unmarshal([]byte(so), &preds[i]) != nil || len(preds[i].Logits) != len(preds[0].Logits) || len(preds[i].Logits) < 4 {
			t.Fatalf("predict %v: exit %d, %q, %s", extra, code, so, e)
		}
	}
	if relErr(preds[0].Logits, preds[1].Logits) == 0 {
		t.Error("predict gives the same logits over the NF4 and the f32 base")
	}
}

// lastEvalLoss reads the last eval_loss of dir/metrics.jsonl.
func lastEvalLoss(t *testing.T, dir string) float64 {
	t.Helper()
	fh, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	loss := math.NaN()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var rec struct {
			EvalLoss *float64 `json:"eval_loss"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.EvalLoss != nil {
			loss = *rec.EvalLoss
		}
	}
	if math.IsNaN(loss) {
		t.Fatal("metrics.jsonl has no eval_loss")
	}
	return loss
}

func relErr(a, b []float32) float64 {
	var d, m float64
	for i := range b {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = max(m, math.Abs(float64(b[i])))
	}
	return d / max(m, 1e-30)
}
