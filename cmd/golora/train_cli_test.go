package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/nn"
)

// golora runs the CLI in-process and returns the exit code and outputs.
func golora(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// writeIDX writes a tiny idx dataset (raw, not gzipped) into dir: n
// images of side×side whose class (0..classes-1) is a bright square at a
// class-specific place, plus noise.
func writeIDX(t *testing.T, dir, prefix string, n, side, classes int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 9))
	var img, lab bytes.Buffer
	binary.Write(&img, binary.BigEndian, []uint32{0x803, uint32(n), uint32(side), uint32(side)})
	binary.Write(&lab, binary.BigEndian, []uint32{0x801, uint32(n)})
	for i := range n {
		c := i % classes
		px := make([]byte, side*side)
		for j := range px {
			px[j] = byte(rng.IntN(40))
		}
		r0, c0 := (c*3)%(side-2), (c*5)%(side-2)
		for y := r0; y < r0+2; y++ {
			for x := c0; x < c0+2; x++ {
				px[y*side+x] = 250
			}
		}
		img.Write(px)
		lab.WriteByte(byte(c))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{prefix + "-images-idx3-ubyte": img.Bytes(), prefix + "-labels-idx1-ubyte": lab.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tinyData writes an 8x8, 4-class idx dataset with train and test parts.
func tinyData(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "tiny")
	writeIDX(t, dir, "train", 96, 8, 4, 1)
	writeIDX(t, dir, "t10k", 32, 8, 4, 2)
	return dir
}

// tinyModelDir saves a small random ViT for 8x8 gray images with labels
// "0".."3" and golora's gray preprocessing.
func tinyModelDir(t *testing.T) string {
	cfg := vit.DefaultConfig()
	cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 16, 2, 2, 32
	cfg.ImageSize, cfg.PatchSize, cfg.NumChannels = 8, 4, 1
	cfg.SetLabels([]string{"0", "1", "2", "3"})
	m, err := vit.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := saveModelDir(m, ptr(grayProcessorConfig(8, 1)), dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writePNG(t *testing.T, path string, side int) {
	img := image.NewGray(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTrainCommandsHelpAndBadFlags(t *testing.T) {
	for _, cmd := range []string{"train", "pretrain", "eval", "predict", "demo"} {
		if code, _, _ := golora(cmd, "--help"); code != 0 {
			t.Errorf("%s --help: exit %d, want 0", cmd, code)
		}
		if code, _, e := golora(cmd, "--no-such-flag"); code != 2 || !strings.Contains(e, "no-such-flag") || strings.Count(strings.TrimSpace(e), "\n") != 0 {
			t.Errorf("%s --no-such-flag: exit %d, stderr %q; want 2 and one line naming the flag", cmd, code, e)
		}
		if code, _, e := golora(cmd, "--help"); code != 0 || !strings.Contains(e, "usage: golora "+cmd) || !strings.Contains(e, "-threads") {
			t.Errorf("%s --help: exit %d, stderr %q; want 0 and the flags listed", cmd, code, e)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	for _, args := range [][]string{
		{"train", "--dataset", "mnist", "--output-dir", out},                             // no --model
		{"train", "--model", "m", "--dataset", "mnist"},                                  // no --output-dir
		{"train", "--model", "m", "--dataset", "mnist", "--output-dir", out, "--r", "0"}, // LoRA rank
		{"train", "--model", "m", "--dataset", "mnist", "--output-dir", out, "--bias", "some"},
		{"train", "--model", "m", "--dataset", "mnist", "--output-dir", out, "--method", "qlora"},
		{"train", "--model", "m", "--dataset", "mnist", "--output-dir", out, "--classes", "9-5"},
		{"train", "--model", "m", "--dataset", "mnist", "--output-dir", out, "--lr-scheduler-type", "step"},
		{"train", "--model", "m", "--dataset", "mnist", "--output-dir", out, "--learning-rate", "-1"},
		{"train", "--model", "m", "--dataset", "mnist", "--output-dir", out, "--threads", "-2"},
		{"pretrain", "--output-dir", out, "--per-device-train-batch-size", "0"},
		{"pretrain", "--output-dir", out, "--hidden-size", "30", "--num-attention-heads", "4", "--dataset", "mnist"},
		{"eval", "--dataset", "mnist"},
		{"eval", "--model", "m"},
		{"eval", "--model", "m", "--data", "d", "--dataset", "mnist"},
		{"predict", "--model", "m"},
		{"predict", "x.png"},
		{"demo", "--max-steps", "0"},
		{"demo", "--r", "-1"},
	} {
		code, _, e := golora(args...)
		if code != 2 || strings.Count(strings.TrimSpace(e), "\n") != 0 {
			t.Errorf("golora %v: exit %d, stderr %q; want 2 and one line", args, code, e)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("bad usage created %s", out)
	}
}

func TestTrainCommandsBadInput(t *testing.T) {
	model := tinyModelDir(t)
	good := tinyData(t)
	tmp := t.TempDir()
	corrupt := filepath.Join(tmp, "corrupt")
	writeIDX(t, corrupt, "train", 8, 8, 4, 1)
	writeIDX(t, corrupt, "t10k", 8, 8, 4, 1)
	bad := filepath.Join(corrupt, "train-images-idx3-ubyte")
	b, _ := os.ReadFile(bad)
	os.WriteFile(bad, b[:len(b)-10], 0o644) // truncated
	noConfig := filepath.Join(tmp, "noconfig")
	os.MkdirAll(noConfig, 0o755)
	os.WriteFile(filepath.Join(noConfig, "model.safetensors"), []byte("x"), 0o644)
	bigPNG := filepath.Join(tmp, "big.png")
	writePNG(t, bigPNG, 12)
	folder := filepath.Join(tmp, "folder")
	for _, d := range []string{"train/a", "train/b", "test/a", "test/b"} {
		os.MkdirAll(filepath.Join(folder, d), 0o755)
		writePNG(t, filepath.Join(folder, d, "1.png"), 8)
	}
	writePNG(t, filepath.Join(folder, "train/b/2.png"), 12)
	missing := filepath.Join(tmp, "no-such-data")

	for _, tc := range []struct {
		args []string
		want string // the file named in the error
	}{
		{[]string{"train", "--model", model, "--dataset", missing}, missing},
		{[]string{"train", "--model", model, "--dataset", corrupt}, bad},
		{[]string{"train", "--model", noConfig, "--dataset", good}, "config.json"},
		{[]string{"pretrain", "--dataset", missing}, missing},
		{[]string{"pretrain", "--dataset", corrupt}, bad},
		{[]string{"eval", "--model", noConfig, "--data", good}, "config.json"},
		{[]string{"eval", "--model", model, "--data", corrupt}, bad},
		{[]string{"predict", "--model", model, bigPNG}, bigPNG},
		{[]string{"predict", "--model", noConfig, bigPNG}, noConfig},
		{[]string{"train", "--model", model, "--dataset", folder}, "12×12"},
	} {
		out := filepath.Join(t.TempDir(), "out")
		args := tc.args
		if args[0] == "train" || args[0] == "pretrain" {
			args = append(args, "--output-dir", out, "--max-steps", "2", "--quiet")
		}
		code, so, e := golora(args...)
		if code != 1 || so != "" || strings.Count(strings.TrimSpace(e), "\n") != 0 || !strings.Contains(e, tc.want) {
			t.Errorf("golora %v: exit %d, stdout %q, stderr %q; want exit 1 and one line naming %s", args, code, so, e, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("golora %v left %s behind", args, out)
		}
	}
}

func TestPretrainTrainEvalPredict(t *testing.T) {
	dataDir := tinyData(t)
	base := filepath.Join(t.TempDir(), "base")
	code, _, e := golora("pretrain", "--dataset", dataDir, "--output-dir", base, "--hidden-size", "16", "--num-hidden-layers", "1",
		"--num-attention-heads", "2", "--patch-size", "4", "--max-steps", "30", "--per-device-train-batch-size", "16",
		"--learning-rate", "3e-3", "--augment-shift", "1", "--gradient-checkpointing", "--quiet")
	if code != 0 {
		t.Fatalf("pretrain: exit %d: %s", code, e)
	}
	if m := readMemory(t, base); m.Method != "full" || !m.GradientCheckpointing || m.PeakBytes["weights"] != m.PlannedBytes["weights"] {
		t.Errorf("pretrain %s: %+v", MemoryFile, m)
	}
	for _, f := range []string{"config.json", "model.safetensors", "preprocessor_config.json", "metrics.jsonl", "curves.png", MemoryFile} {
		if _, err := os.Stat(filepath.Join(base, f)); err != nil {
			t.Errorf("pretrain output: %v", err)
		}
	}

	// LoRA on classes 2-3 (a new head), with a checkpoint, then resume the
	// finished run (a no-op) and evaluate with the adapter.
	ad := filepath.Join(t.TempDir(), "adapter")
	code, so, e := golora("train", "--model", base, "--dataset", dataDir, "--classes", "2-3", "--output-dir", ad,
		"--max-steps", "6", "--save-steps", "3", "--per-device-train-batch-size", "8", "--r", "4", "--lora-alpha", "8",
		"--lora-dropout", "0.1", "--target-modules", "query,value", "--quiet")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	if !strings.Contains(so, "PEFT adapter written to "+ad) {
		t.Errorf("train stdout %q", so)
	}
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors", "checkpoint-3/adapter_config.json", "checkpoint-6/trainer_state.json"} {
		if _, err := os.Stat(filepath.Join(ad, f)); err != nil {
			t.Errorf("train output: %v", err)
		}
	}
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(ad, "adapter_config.json"))
	if err := json.Unmarshal(b, &cfg); err != nil || cfg["r"] != 4.0 || cfg["lora_dropout"] != 0.1 || cfg["base_model_name_or_path"] != base {
		t.Errorf("adapter_config.json: %v %v", cfg, err)
	}
	if code, _, e := golora("train", "--model", base, "--dataset", dataDir, "--classes", "2-3", "--output-dir", ad, "--max-steps", "6", "--quiet"); code != 1 || !strings.Contains(e, "--resume") {
		t.Errorf("train into a used output dir: exit %d, %q", code, e)
	}

	code, so, e = golora("eval", "--model", base, "--adapter", ad, "--data", dataDir, "--classes", "2-3", "--json")
	var ev struct {
		Loss, Accuracy float64
		Examples       int
	}
	if code != 0 || json.Unmarshal([]byte(so), &ev) != nil || ev.Examples != 16 || !(ev.Accuracy >= 0 && ev.Accuracy <= 1) {
		t.Fatalf("eval: exit %d, %q, %s", code, so, e)
	}

	png8 := filepath.Join(t.TempDir(), "x.png")
	writePNG(t, png8, 8)
	code, so, e = golora("predict", "--model", base, "--adapter", ad, "--json", png8, png8)
	if code != 0 {
		t.Fatalf("predict: exit %d: %s", code, e)
	}
	lines := strings.Split(strings.TrimSpace(so), "\n")
	var p prediction
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &p) != nil || len(p.Logits) != 2 || (p.Label != "2" && p.Label != "3") {
		t.Errorf("predict output %q", so)
	}

	// Full fine-tuning writes a model directory that eval reads.
	full := filepath.Join(t.TempDir(), "full")
	if code, _, e := golora("train", "--method", "full", "--model", base, "--dataset", dataDir, "--output-dir", full, "--max-steps", "4", "--quiet"); code != 0 {
		t.Fatalf("train --method full: exit %d: %s", code, e)
	}
	if code, so, e := golora("eval", "--model", full, "--data", dataDir); code != 0 || !strings.Contains(so, "accuracy") {
		t.Errorf("eval of the full model: exit %d, %q %q", code, so, e)
	}
	_ = nn.AllParams
}

func TestTrainResumeCLI(t *testing.T) {
	dataDir := tinyData(t)
	model := tinyModelDir(t)
	for _, base := range [][]string{nil, {"--base-dtype", "nf4", "--double-quant"}} {
		common := append([]string{"train", "--model", model, "--dataset", dataDir, "--max-steps", "8", "--save-steps", "4",
			"--per-device-train-batch-size", "8", "--lora-dropout", "0.2", "--quiet", "--threads", "1"}, base...)
		a := filepath.Join(t.TempDir(), "a")
		if code, _, e := golora(append(common, "--output-dir", a)...); code != 0 {
			t.Fatal(e)
		}
		// Resume the same run from its step-4 checkpoint into another
		// directory (over an NF4 base: quantised again, identically).
		b := filepath.Join(t.TempDir(), "b")
		if code, _, e := golora(append(common, "--output-dir", b, "--resume="+filepath.Join(a, "checkpoint-4"))...); code != 0 {
			t.Fatal(e)
		}
		x, _ := os.ReadFile(filepath.Join(a, "adapter_model.safetensors"))
		y, _ := os.ReadFile(filepath.Join(b, "adapter_model.safetensors"))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("base %v: resumed adapter differs from the uninterrupted one (%d vs %d bytes)", base, len(x), len(y))
		}
	}
}

func ptr[T any](v T) *T { return &v }
