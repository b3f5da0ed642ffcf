package vit

import (
	"strings"
	"testing"

	"github.com/golora/golora/internal/badinput"
	"github.com/golora/golora/internal/sizecheck"
)

// TestAbsurdSizes feeds config.json files with sizes far beyond the
// ceilings: each is refused with an error naming the field, without
// allocating anything in proportion to the size.
func TestAbsurdSizes(t *testing.T) {
	for _, tc := range []struct{ json, field string }{
		{`{"hidden_size": 1000000, "num_attention_heads": 1000}`, "hidden_size 1000000"},
		{`{"hidden_size": 1000000000000000000, "num_attention_heads": 1}`, "hidden_size"},
		{`{"hidden_size": 1e6}`, "hidden_size"}, // not an integer in Go's JSON
		{`{"intermediate_size": 10000000000}`, "intermediate_size"},
		{`{"num_hidden_layers": 1000000}`, "num_hidden_layers"},
		{`{"num_hidden_layers": 1000000000}`, "num_hidden_layers"},
		{`{"num_labels": 1000000000}`, "num_labels"},
		{`{"num_labels": -5}`, "num_labels"},
		{`{"image_size": 1000000000, "patch_size": 1}`, "image_size"},
		{`{"image_size": 4096, "patch_size": 1}`, "patches"},
		{`{"image_size": [1000000000, 1000000000], "patch_size": 1}`, "image_size"},
		{`{"num_channels": 1000000000}`, "num_channels"},
		{`{"num_attention_heads": 4096, "hidden_size": 4096}`, "num_attention_heads"},
		{`{"patch_size": 1000000}`, "patch_size"},
		{`{"hidden_size": 9223372036854775807}`, "hidden_size"},
	} {
		var err error
		if n := badinput.Allocated(func() { _, err = ParseConfig([]byte(tc.json)) }); n > 1<<20 {
			t.Errorf("%s: allocated %d bytes", tc.json, n)
		}
		if err == nil || !strings.Contains(err.Error(), tc.field) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line naming %s", tc.json, err, tc.field)
		}
	}
}

// TestCheckMemory refuses a config within the ceilings whose weights do
// not fit the memory available, before allocating them.
func TestCheckMemory(t *testing.T) {
	t.Setenv(sizecheck.MemEnv, "64MiB")
	c := DefaultConfig() // ViT-Base: 86M parameters, 330 MiB in f32
	var err error
	if n := badinput.Allocated(func() { _, err = NewZero(c, 1) }); n > 1<<20 {
		t.Errorf("NewZero allocated %d bytes before failing", n)
	}
	if err == nil || !strings.Contains(err.Error(), "85,800,194 parameters") || !strings.Contains(err.Error(), "num_hidden_layers 12") ||
		!strings.Contains(err.Error(), "64.0 MiB") {
		t.Errorf("ViT-Base in 64 MiB: %v", err)
	}
	c.IntermediateSize = MaxIntermediateSize
	c.HiddenSize, c.NumAttentionHeads = MaxHiddenSize, 1
	c.NumHiddenLayers = MaxLayers
	if err := c.CheckMemory(); err == nil || !strings.Contains(err.Error(), "the MLP") {
		t.Errorf("largest config: %v", err)
	}
	if p := ExpectedCount(c); p.Total <= 0 || p.Bytes["F32"] <= p.Total {
		t.Errorf("ExpectedCount of the largest config wrapped: %+v", p)
	}
	var huge Config = c
	huge.HiddenSize, huge.IntermediateSize = 1<<40, 1<<40 // past the ceilings: saturates
	if p := ExpectedCount(huge); p.Total != sizecheck.Saturated || p.Bytes["F32"] != sizecheck.Saturated {
		t.Errorf("ExpectedCount did not saturate: %+v", p)
	}
}

// TestLoadChecksFileSize refuses a config.json that implies more weights
// than model.safetensors holds, before reading the tensors.
func TestLoadChecksFileSize(t *testing.T) {
	dir := tinyCopy(t, nil, func(c map[string]any) {
		c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"] = 1024, 4096, 24
	})
	var err error
	if n := badinput.Allocated(func() { _, err = Load(dir, LoadOptions{}) }); n > 1<<20 {
		t.Errorf("Load allocated %d bytes before failing", n)
	}
	if err == nil || !strings.Contains(err.Error(), "model.safetensors has only") || !strings.Contains(err.Error(), "num_hidden_layers 24") {
		t.Errorf("Load: %v", err)
	}
	if _, err := Load(tinyDir, LoadOptions{NumLabels: 1 << 30}); err == nil || !strings.Contains(err.Error(), "labels") {
		t.Errorf("Load with 2^30 labels: %v", err)
	}
}
