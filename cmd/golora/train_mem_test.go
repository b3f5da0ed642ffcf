package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// readMemory reads the memory.json a training run wrote into dir.
func readMemory(t *testing.T, dir string) memoryReport {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, MemoryFile))
	if err != nil {
		t.Fatal(err)
	}
	var m memoryReport
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", MemoryFile, err)
	}
	return m
}

func TestTrainMemoryBreakdown(t *testing.T) {
	dataDir := tinyData(t)
	model := tinyModelDir(t)
	common := []string{"train", "--model", model, "--dataset", dataDir, "--max-steps", "2",
		"--per-device-train-batch-size", "8", "--per-device-eval-batch-size", "8", "--quiet", "--threads", "1"}
	runs := map[string][]string{
		"f32":  nil,
		"bf16": {"--base-dtype", "bf16"},
		"nf4":  {"--base-dtype", "nf4", "--double-quant"},
		"int8": {"--base-dtype", "int8"},
		"ckpt": {"--gradient-checkpointing"},
		"full": {"--method", "full"},
		// AdaLoRA's optimizer bytes hold its rank allocator's state too.
		"adalora": {"--method", "adalora", "--init-r", "6", "--target-r", "3"},
	}
	out := map[string]string{}
	mem := map[string]memoryReport{}
	for name, extra := range runs {
		dir := filepath.Join(t.TempDir(), name)
		code, so, e := golora(append(append(common, "--output-dir", dir), extra...)...)
		if code != 0 {
			t.Fatalf("train %v: exit %d: %s", extra, code, e)
		}
		out[name] = dir
		mem[name] = readMemory(t, dir)
		t.Logf("%s:\n%s", name, so)

		// Every category has a row with a measured and a planned column.
		if !regexpLine(so, "memory", "measured", "planned", "diff") {
			t.Errorf("train %v: no breakdown header in %q", extra, so)
		}
		for _, row := range []string{"weights", "gradients", "optimizer", "activations", "workspace", "data", "total"} {
			if !regexpLine(so, row, "MiB", "MiB") {
				t.Errorf("train %v: no %s row with measured and planned bytes in %q", extra, row, so)
			}
		}
		m := mem[name]
		for _, c := range []string{"weights", "gradients", "optimizer", "activations", "data"} {
			if m.PeakBytes[c] <= 0 || m.PlannedBytes[c] <= 0 {
				t.Errorf("train %v: %s measured %d, planned %d; want both > 0", extra, c, m.PeakBytes[c], m.PlannedBytes[c])
			}
		}
		// Weights, gradients and AdamW's state are exactly predictable.
		for _, c := range []string{"weights", "gradients", "optimizer"} {
			if m.PeakBytes[c] != m.PlannedBytes[c] {
				t.Errorf("train %v: %s measured %d bytes, planned %d", extra, c, m.PeakBytes[c], m.PlannedBytes[c])
			}
		}
	}

	f32, bf16, ckpt, full := mem["f32"], mem["bf16"], mem["ckpt"], mem["full"]
	if ada := mem["adalora"]; ada.Method != "adalora" {
		t.Errorf("adalora run recorded as %q", ada.Method)
	}
	if full.Method != "full" || !(full.PeakBytes["optimizer"] > f32.PeakBytes["optimizer"]) {
		t.Errorf("full fine-tuning: %+v; want AdamW state beyond LoRA's %d bytes", full, f32.PeakBytes["optimizer"])
	}
	if bf16.BaseDType != "bf16" || f32.BaseDType != "f32" || !ckpt.GradientCheckpointing || f32.GradientCheckpointing {
		t.Errorf("setups recorded: f32 %+v, bf16 %+v, ckpt %+v", f32, bf16, ckpt)
	}
	if !(bf16.PeakBytes["weights"] < f32.PeakBytes["weights"]) {
		t.Errorf("weights with bf16 base %d bytes, with f32 %d: want fewer", bf16.PeakBytes["weights"], f32.PeakBytes["weights"])
	}
	// Quantised bases: each dtype's weights measured exactly as planned,
	// and in memory.json under their own key.
	for name, want := range map[string]string{"nf4": "nf4-dq", "int8": "int8", "bf16": "bf16"} {
		m := mem[name]
		key := "weights_" + strings.TrimSuffix(want, "-dq")
		if m.BaseDType != want || m.PeakBytes[key] <= 0 || m.PeakBytes[key] != m.PlannedBytes[key] || m.PeakBytes["weights_f32"] != m.PlannedBytes["weights_f32"] {
			t.Errorf("%s: base %q, %s measured %d planned %d, f32 %d/%d", name, m.BaseDType, key, m.PeakBytes[key], m.PlannedBytes[key], m.PeakBytes["weights_f32"], m.PlannedBytes["weights_f32"])
		}
		if name != "bf16" && !(m.PeakBytes["weights"] < bf16.PeakBytes["weights"]) {
			t.Errorf("%s weights %d bytes, bf16 %d: want fewer", name, m.PeakBytes["weights"], bf16.PeakBytes["weights"])
		}
	}
	if !(ckpt.PlannedBytes["activations"] < f32.PlannedBytes["activations"]) {
		t.Errorf("planned activations with checkpointing %d bytes, without %d: want fewer", ckpt.PlannedBytes["activations"], f32.PlannedBytes["activations"])
	}

	// Recomputing the forward changes no bit of the training.
	x, _ := os.ReadFile(filepath.Join(out["f32"], "adapter_model.safetensors"))
	y, _ := os.ReadFile(filepath.Join(out["ckpt"], "adapter_model.safetensors"))
	if len(x) == 0 || !bytes.Equal(x, y) {
		t.Errorf("adapter trained with gradient checkpointing differs from the one without (%d vs %d bytes)", len(x), len(y))
	}
}

// regexpLine reports whether some line of s starts with first and holds
// the other words in order.
func regexpLine(s, first string, words ...string) bool {
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, first+" ") {
			continue
		}
		rest, ok := l[len(first):], true
		for _, w := range words {
			i := strings.Index(rest, w)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(w):]
		}
		if ok {
			return true
		}
	}
	return false
}

func TestTrainMemoryFlagErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--method", "full", "--base-dtype", "bf16"}, "needs --method lora"},
		{[]string{"--method", "full", "--base-dtype", "nf4"}, "full fine-tuning trains every weight, in f32"},
		{[]string{"--base-dtype", "f8"}, `--base-dtype "f8": want f32, bf16, fp16, int8 or nf4`},
		{[]string{"--base-dtype", "int4"}, `--base-dtype "int4"`},
		{[]string{"--base-dtype", "int8", "--double-quant"}, "--double-quant quantises NF4's block scales: it needs --base-dtype nf4"},
		{[]string{"--double-quant"}, "needs --base-dtype nf4"},
	} {
		for _, cmd := range [][]string{
			{"train", "--model", "m", "--dataset", "mnist", "--output-dir", out},
			{"demo"}, {"eval", "--model", "m", "--dataset", "mnist"}, {"predict", "--model", "m"},
			{"merge", "--model", "m", "--adapter", "a", "--out", out}, {"plan", "--preset", "vit-small-64"},
		} {
			if cmd[0] != "train" && cmd[0] != "plan" && slices.Contains(tc.args, "full") {
				continue
			}
			args := append(slices.Clone(cmd), tc.args...)
			if cmd[0] == "predict" {
				args = append(args, "x.png")
			}
			code, _, e := golora(args...)
			if code != 2 || !strings.Contains(e, tc.want) || strings.Count(e, "\n") != 1 {
				t.Errorf("%s %v: exit %d, stderr %q; want 2 and one line with %q", cmd[0], tc.args, code, e, tc.want)
			}
		}
	}
}
