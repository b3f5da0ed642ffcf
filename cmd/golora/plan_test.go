package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/models/vit"
)

type planJSON struct {
	Bytes      map[string]int64   `json:"bytes"`
	TotalBytes int64              `json:"total_bytes"`
	FLOPs      map[string]int64   `json:"flops"`
	StepMS     float64            `json:"step_ms"`
	ByKernel   map[string]float64 `json:"step_ms_by_kernel"`
	MaxBatch   *int               `json:"max_batch"`
}

func TestPlanCommand(t *testing.T) {
	var so, se bytes.Buffer
	if code := run([]string{"plan", "--model", "../../testdata/vit-tiny", "--method", "lora", "--batch", "2", "--budget", "64MiB", "--json"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	var p planJSON
	if err := json.Unmarshal(so.Bytes(), &p); err != nil {
		t.Fatalf("%v in %s", err, so.String())
	}
	var sum int64
	for _, k := range []string{"weights", "gradients", "optimizer", "activations", "workspace", "data"} {
		v, ok := p.Bytes[k]
		if !ok || v <= 0 {
			t.Errorf("bytes.%s = %d (present %v)", k, v, ok)
		}
		sum += v
	}
	if sum != p.TotalBytes {
		t.Errorf("total_bytes %d, categories sum to %d", p.TotalBytes, sum)
	}
	if p.FLOPs["forward"] <= 0 || p.FLOPs["backward_dx"] <= 0 || p.FLOPs["backward_dw"] <= 0 || p.StepMS <= 0 {
		t.Errorf("flops %v, step_ms %v", p.FLOPs, p.StepMS)
	}
	if p.MaxBatch == nil || *p.MaxBatch < 2 {
		t.Errorf("max_batch %v with a 64 MiB budget", p.MaxBatch)
	}
	// The step time is the sum of its kernels' parts.
	var parts float64
	for _, ms := range p.ByKernel {
		parts += ms
	}
	if p.ByKernel["gemm"] <= 0 || p.ByKernel["layernorm"] <= 0 || parts < 0.999*p.StepMS || parts > 1.001*p.StepMS {
		t.Errorf("step_ms %v, by kernel %v", p.StepMS, p.ByKernel)
	}

	so.Reset()
	if code := run([]string{"plan", "--preset", "vit-small-64", "--batch", "2", "--compare", "--json"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	var cmp struct {
		Results []struct {
			Method string `json:"method"`
			planJSON
		} `json:"results"`
	}
	if err := json.Unmarshal(so.Bytes(), &cmp); err != nil || len(cmp.Results) != 4 {
		t.Fatalf("%v: %s", err, so.String())
	}
	full, lora, bf16, ckpt := cmp.Results[0], cmp.Results[1], cmp.Results[2], cmp.Results[3]
	if full.Method != "full" || lora.Method != "lora" || bf16.Method != "lora-bf16" || ckpt.Method != "lora-ckpt" {
		t.Errorf("methods %s %s %s %s", full.Method, lora.Method, bf16.Method, ckpt.Method)
	}
	if !(lora.Bytes["optimizer"] < full.Bytes["optimizer"] && bf16.Bytes["weights"] < lora.Bytes["weights"] &&
		ckpt.Bytes["activations"] < lora.Bytes["activations"] && lora.FLOPs["backward_dw"] < full.FLOPs["backward_dw"]) {
		t.Errorf("the methods do not save what they should: %+v", cmp.Results)
	}

	// Every base dtype side by side: weights by dtype, and their bytes
	// over what the same values take in f32.
	so.Reset()
	if code := run([]string{"plan", "--preset", "vit-small-64", "--batch", "2", "--methods", "lora,lora-fp16,lora-int8,lora-nf4,lora-nf4-dq", "--json"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	var q struct {
		Results []planResult `json:"results"`
	}
	if err := json.Unmarshal(so.Bytes(), &q); err != nil || len(q.Results) != 5 {
		t.Fatalf("%v: %s", err, so.String())
	}
	prev := 1.0
	for i, dt := range []string{"F32", "F16", "INT8", "NF4", "NF4"} {
		r := q.Results[i]
		if r.WeightsBy[dt] <= 0 || r.ValuesBy[dt] <= 0 || !(r.WeightsXF32 <= prev) || r.WeightsBy["F32"] <= 0 {
			t.Errorf("%s: weights by dtype %v, values %v, x f32 %v", r.Method, r.WeightsBy, r.ValuesBy, r.WeightsXF32)
		}
		prev = r.WeightsXF32
		if i > 0 && r.Bytes["activations"] != q.Results[0].Bytes["activations"] {
			t.Errorf("%s: activations %d, f32 base %d", r.Method, r.Bytes["activations"], q.Results[0].Bytes["activations"])
		}
	}
	if r := q.Results[3]; float64(r.WeightsBy["NF4"])/float64(4*r.ValuesBy["NF4"]) > 0.15 {
		t.Errorf("NF4 weights are %.3fx their f32 bytes", float64(r.WeightsBy["NF4"])/float64(4*r.ValuesBy["NF4"]))
	}
	so.Reset()
	if code := run([]string{"plan", "--preset", "vit-small-64", "--batch", "2", "--methods", "lora,lora-nf4"}, &so, &se); code != 0 ||
		!regexpLine(so.String(), "  nf4", "MiB") || !regexpLine(so.String(), "  f32", "MiB", "KiB") || !regexpLine(so.String(), "weights x f32", "1.000", "0.") {
		t.Errorf("text table (exit %d):\n%s%s", code, so.String(), se.String())
	}

	so.Reset()
	if code := run([]string{"plan", "--preset", "vit-small-64", "--batch", "3"}, &so, &se); code != 0 || !strings.Contains(so.String(), "activations") {
		t.Errorf("text output (exit %d): %s%s", code, so.String(), se.String())
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"plan", "--preset", "vit-small-64", "--method", "qlora"}, 2, "qlora"},
		{[]string{"plan", "--preset", "vit-small-64", "--base-dtype", "f8"}, 2, "f8"},
		{[]string{"plan", "--preset", "vit-small-64", "--method", "full", "--base-dtype", "nf4"}, 2, "needs --method lora"},
		{[]string{"plan", "--preset", "vit-small-64", "--methods", "lora,lora-nf8"}, 2, "lora-nf8"},
		{[]string{"plan", "--preset", "vit-small-64", "--budget", "lots"}, 2, "lots"},
		{[]string{"plan", "--preset", "vit-small-64", "--batch", "0"}, 2, "batch"},
		{[]string{"plan", "--preset", "vit-small-64", "--r", "0"}, 2, "--r 0 is out of range"},
		{[]string{"plan", "--preset", "nope"}, 2, "vit-tiny-224"},
		{[]string{"plan"}, 2, "--model"},
		{[]string{"plan", "--preset", "vit-small-64", "--model", "x"}, 2, "not both"},
		{[]string{"plan", "--bogus"}, 2, "bogus"},
		{[]string{"plan", "--model", filepath.Join(t.TempDir(), "none")}, 1, "config.json"},
		{[]string{"plan", "--preset", "vit-small-64", "--method", "adalora", "--target-r", "20"}, 2, "target_r must be in [1, init_r = 12], got 20"},
		{[]string{"plan", "--preset", "vit-small-64", "--method", "adalora", "--init-r", "1000000000"}, 2, "--init-r 1000000000 is out of range"},
		{[]string{"plan", "--preset", "vit-small-64", "--method", "adalora", "--init-r", "0"}, 2, "--init-r 0 is out of range"},
		{[]string{"plan", "--preset", "vit-small-64", "--method", "adalora", "--use-dora"}, 2, "does not support DoRA"},
		{[]string{"plan", "--preset", "vit-small-64", "--method", "adalora", "--tinit", "5", "--total-step", "3"}, 2, "leaves no budgeting phase"},
		{[]string{"plan", "--preset", "vit-small-64", "--method", "adalora", "--double-quant"}, 2, "needs --base-dtype nf4"},
		{[]string{"plan", "--preset", "vit-small-64", "--method", "adalora", "--lora-dropout", "1"}, 2, "--lora-dropout 1 outside [0, 1)"},
		{[]string{"plan", "--preset", "vit-small-64", "--method", "adalora", "--world-size", "2", "--zero-stage", "1"}, 2, "use --zero-stage 0"},
		{[]string{"plan", "--preset", "vit-small-64", "--methods", "lora,adalora", "--beta1", "1"}, 2, "beta1 and beta2 must be in (0, 1)"},
	} {
		se.Reset()
		code := run(tc.args, &so, &se)
		oneLine := tc.want == "bogus" || strings.Count(strings.TrimSpace(se.String()), "\n") == 0 // flag errors print the usage too
		if code != tc.code || !strings.Contains(se.String(), tc.want) || !oneLine {
			t.Errorf("%v: exit %d, stderr %q; want %d and one line with %q", tc.args, code, se.String(), tc.code, tc.want)
		}
	}
}

func TestBenchTrainCommand(t *testing.T) {
	var so, se bytes.Buffer
	if code := run([]string{"bench", "train", "--preset", "vit-small-64", "--batch", "1", "--steps", "1", "--warmup", "0", "--methods", "full,lora-ckpt,adalora", "--json"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	var rep struct {
		Results []trainResult `json:"results"`
	}
	if err := json.Unmarshal(so.Bytes(), &rep); err != nil || len(rep.Results) != 3 || rep.Results[2].Method != "adalora" {
		t.Fatalf("%v: %s", err, so.String())
	}
	for _, r := range rep.Results {
		for k, v := range r.Planned.Bytes {
			if r.Bytes[k] != v {
				t.Errorf("%s: %s measured %d, planned %d", r.Method, k, r.Bytes[k], v)
			}
		}
		if r.StepMS <= 0 || r.ExamplesPerS <= 0 {
			t.Errorf("%s: step %v ms, %v examples/s", r.Method, r.StepMS, r.ExamplesPerS)
		}
	}
	if rep.Results[1].RatioToFull == nil || rep.Results[1].Ratio == nil || rep.Results[1].Ratio.To != "full" {
		t.Error("no ratio to full")
	}
	// LoRA over an NF4 base beside the f32 base, steps interleaved.
	so.Reset()
	if code := run([]string{"bench", "train", "--preset", "vit-small-64", "--batch", "1", "--steps", "2", "--warmup", "0", "--methods", "lora,lora-nf4-dq", "--json"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	rep.Results = nil
	if err := json.Unmarshal(so.Bytes(), &rep); err != nil || len(rep.Results) != 2 {
		t.Fatalf("%v: %s", err, so.String())
	}
	nf4 := rep.Results[1]
	if nf4.Bytes["weights_nf4"] <= 0 || nf4.Bytes["weights_nf4"] != nf4.Planned.Bytes["weights_nf4"] || nf4.Ratio == nil || nf4.Ratio.To != "lora" ||
		!(nf4.Ratio.TotalBytes < 1) || nf4.RatioToFull != nil || nf4.StepMS <= 0 {
		t.Errorf("lora-nf4-dq: %+v (ratio %+v)", nf4, nf4.Ratio)
	}
	// Interleaving keeps every method's model at once: refused when they do
	// not fit together, with the way out named; --sequential fits.
	t.Setenv("GOLORA_MEM_AVAILABLE", "30000000")
	se.Reset()
	args := []string{"bench", "train", "--preset", "vit-small-64", "--batch", "2", "--steps", "1", "--warmup", "0", "--methods", "lora,lora-nf4"}
	if code := run(args, &so, &se); code != 1 || !strings.Contains(se.String(), "--sequential") {
		t.Errorf("interleaved beyond the memory: exit %d, %q", code, se.String())
	}
	if code := run(append(args, "--sequential"), &so, &se); code != 0 {
		t.Errorf("--sequential within the memory: exit %d, %q", code, se.String())
	}
	for _, args := range [][]string{
		{"bench", "train", "--preset", "vit-small-64", "--methods", "full,qlora"},
		{"bench", "train", "--preset", "vit-small-64", "--steps", "0"},
		{"bench", "train", "--preset", "vit-small-64", "--methods", "adalora", "--world-size", "2", "--zero-stage", "2"},
	} {
		se.Reset()
		if code := run(args, &so, &se); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, se.String())
		}
	}
}

// TestPlanAdaLoRA checks plan --method adalora against plan --method lora
// at the same rank: AdaLoRA adds E (init_r values a layer) with its
// gradient and AdamW state, and its rank allocator's three f32 per factor
// value as optimizer state; and adalora in a --methods comparison.
func TestPlanAdaLoRA(t *testing.T) {
	c := vit.Preset(64, 8, 6) // vit-small-64
	get := func(args ...string) planResult {
		t.Helper()
		var so, se bytes.Buffer
		args = append([]string{"plan", "--preset", "vit-small-64", "--batch", "2", "--json"}, args...)
		if code := run(args, &so, &se); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, se.String())
		}
		var r planResult
		if err := json.Unmarshal(so.Bytes(), &r); err != nil {
			t.Fatalf("%v in %s", err, so.String())
		}
		return r
	}
	lo := get("--method", "lora", "--r", "8")
	ada := get("--method", "adalora", "--init-r", "8", "--target-r", "4", "--total-step", "100")
	layers := int64(2 * c.NumHiddenLayers) // query and value
	e, ab := layers*8, layers*8*2*int64(c.HiddenSize)
	if d := ada.Bytes["gradients"] - lo.Bytes["gradients"]; d != 4*e {
		t.Errorf("AdaLoRA adds %d gradient bytes to LoRA's, want %d", d, 4*e)
	}
	if d, want := ada.Bytes["optimizer"]-lo.Bytes["optimizer"], 8*e+12*(ab+e); d != want {
		t.Errorf("AdaLoRA adds %d optimizer bytes to LoRA's, want %d (AdamW for E, the allocator's state)", d, want)
	}
	if ada.Bytes["workspace"] <= lo.Bytes["workspace"] || ada.StepMS <= 0 || ada.FLOPs != lo.FLOPs {
		t.Errorf("adalora %+v, lora %+v", ada, lo)
	}
	// The schedule does not change the memory: masking resizes nothing.
	if other := get("--method", "adalora", "--init-r", "8", "--target-r", "2"); other.Bytes["optimizer"] != ada.Bytes["optimizer"] || other.TotalBytes != ada.TotalBytes {
		t.Errorf("target_r 2: %d bytes, target_r 4: %d", other.TotalBytes, ada.TotalBytes)
	}

	var so, se bytes.Buffer
	if code := run([]string{"plan", "--preset", "vit-small-64", "--batch", "2", "--methods", "lora,adalora", "--init-r", "8", "--json"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	var cmp struct {
		Results []planResult `json:"results"`
	}
	if err := json.Unmarshal(so.Bytes(), &cmp); err != nil || len(cmp.Results) != 2 || cmp.Results[1].Method != "adalora" {
		t.Fatalf("%v: %s", err, so.String())
	}
	if got := cmp.Results[1]; got.Bytes["optimizer"] != ada.Bytes["optimizer"] || got.TotalBytes != ada.TotalBytes {
		t.Errorf("adalora in --methods: %d bytes, alone %d", got.TotalBytes, ada.TotalBytes)
	}
}

// TestPlanSeqLen: plan and bench train take train's --max-seq-length
// (classifiers, default 128, at most max_position_embeddings) and
// --block-size (causal LMs, default min(1024, max_position_embeddings)),
// print the length, and plan what a step at that length measures; image
// models and bad values refuse them (exit 2, one line).
func TestPlanSeqLen(t *testing.T) {
	var so, se bytes.Buffer
	planAt := func(args ...string) planResult {
		t.Helper()
		so.Reset()
		if code := run(append([]string{"plan", "--batch", "2", "--json"}, args...), &so, &se); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, se.String())
		}
		var r planResult
		if err := json.Unmarshal(so.Bytes(), &r); err != nil {
			t.Fatalf("%v in %s", err, so.String())
		}
		return r
	}
	// bert-mini has 256 positions, llama-tiny 256 (its context).
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--preset", "bert-mini"}, 128},
		{[]string{"--preset", "bert-mini", "--max-seq-length", "64"}, 64},
		{[]string{"--preset", "bert-mini", "--max-seq-length", "1000"}, 256},
		{[]string{"--preset", "llama-tiny"}, 256},
		{[]string{"--preset", "llama-tiny", "--block-size", "16"}, 16},
	} {
		if r := planAt(tc.args...); r.TokensPerExample != tc.want {
			t.Errorf("%v: %d tokens per example, want %d", tc.args, r.TokensPerExample, tc.want)
		}
	}
	if short, long := planAt("--preset", "bert-mini", "--max-seq-length", "64"), planAt("--preset", "bert-mini", "--max-seq-length", "128"); short.Bytes["activations"] >= long.Bytes["activations"] || short.FLOPs.Forward >= long.FLOPs.Forward {
		t.Errorf("64 tokens planned no smaller than 128: %v vs %v", short.Bytes, long.Bytes)
	}
	if r := planAt("--preset", "vit-small-64"); r.TokensPerExample != 0 {
		t.Errorf("an image model planned at %d tokens", r.TokensPerExample)
	}
	so.Reset()
	if code := run([]string{"plan", "--preset", "llama-tiny", "--block-size", "16", "--batch", "2"}, &so, &se); code != 0 || !strings.Contains(so.String(), "batch 2, 16 tokens per example,") {
		t.Errorf("text output (exit %d): %s%s", code, so.String(), se.String())
	}

	// The plan at 128 tokens is what a step at 128 tokens measures.
	so.Reset()
	if code := run([]string{"bench", "train", "--preset", "bert-mini", "--max-seq-length", "128", "--batch", "1", "--steps", "1", "--warmup", "0", "--methods", "lora", "--json"}, &so, &se); code != 0 {
		t.Fatalf("bench train: exit %d: %s", code, se.String())
	}
	var rep struct {
		Results []trainResult `json:"results"`
	}
	if err := json.Unmarshal(so.Bytes(), &rep); err != nil || len(rep.Results) != 1 {
		t.Fatalf("%v: %s", err, so.String())
	}
	r := rep.Results[0]
	if r.TokensPerExample != 128 || len(r.Planned.Bytes) == 0 {
		t.Errorf("bench train: %d tokens per example, planned %v", r.TokensPerExample, r.Planned.Bytes)
	}
	for k, v := range r.Planned.Bytes {
		if r.Bytes[k] != v {
			t.Errorf("bench train at 128 tokens: %s measured %d, planned %d", k, r.Bytes[k], v)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plan", "--preset", "bert-mini", "--max-seq-length", "0"}, "--max-seq-length 0"},
		{[]string{"plan", "--preset", "bert-mini", "--max-seq-length", "-3"}, "--max-seq-length -3"},
		{[]string{"plan", "--preset", "bert-mini", "--block-size", "16"}, "use --max-seq-length"},
		{[]string{"plan", "--preset", "llama-tiny", "--max-seq-length", "16"}, "use --block-size"},
		{[]string{"plan", "--preset", "llama-tiny", "--block-size", "1"}, "--block-size 1"},
		{[]string{"plan", "--preset", "llama-tiny", "--block-size", "-1"}, "--block-size"},
		{[]string{"plan", "--preset", "llama-tiny", "--block-size", "257"}, "exceeds the model's max_position_embeddings 256"},
		{[]string{"plan", "--preset", "vit-small-64", "--max-seq-length", "16"}, "reads images"},
		{[]string{"plan", "--preset", "vit-small-64", "--compare", "--block-size", "16"}, "reads images"},
		{[]string{"bench", "train", "--preset", "vit-small-64", "--block-size", "16"}, "reads images"},
		{[]string{"bench", "train", "--preset", "bert-tiny", "--max-seq-length", "0"}, "--max-seq-length 0"},
	} {
		se.Reset()
		code := run(tc.args, &so, &se)
		if code != 2 || !strings.Contains(se.String(), tc.want) || strings.Count(strings.TrimSpace(se.String()), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", tc.args, code, se.String(), tc.want)
		}
	}
}
