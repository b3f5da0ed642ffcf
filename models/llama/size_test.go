package llama

import (
	"runtime"
	"strings"
	"testing"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/models"
)

func allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestAbsurdSizes: config.json sizes beyond the ceilings are refused with
// one line naming the field, without allocating in proportion to them.
func TestAbsurdSizes(t *testing.T) {
	for _, tc := range []struct{ json, field string }{
		{`{"model_type": "llama", "vocab_size": 1000000000}`, "vocab_size"},
		{`{"model_type": "llama", "hidden_size": 1000000000, "num_attention_heads": 1}`, "hidden_size"},
		{`{"model_type": "llama", "intermediate_size": 10000000000}`, "intermediate_size"},
		{`{"model_type": "llama", "num_hidden_layers": 1000000}`, "num_hidden_layers"},
		{`{"model_type": "llama", "num_key_value_heads": 100000}`, "num_key_value_heads"},
		{`{"model_type": "llama", "head_dim": 100000}`, "head_dim"},
		{`{"model_type": "llama", "max_position_embeddings": 1000000000}`, "max_position_embeddings"},
		{`{"model_type": "llama", "num_labels": 1000000000}`, "num_labels"},
		{`{"model_type": "llama", "hidden_size": 9223372036854775807}`, "hidden_size"},
	} {
		var err error
		if n := allocated(func() { _, err = ParseConfig([]byte(tc.json)) }); n > 1<<20 {
			t.Errorf("%s: allocated %d bytes", tc.json, n)
		}
		if err == nil || !strings.Contains(err.Error(), tc.field) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line naming %s", tc.json, err, tc.field)
		}
	}
}

// TestCheckMemory refuses weights that do not fit the memory available
// before allocating them, and a config.json implying more weights than
// model.safetensors holds before reading it.
func TestCheckMemory(t *testing.T) {
	c := DefaultConfig() // LLaMA-7B's sizes: 6.7B parameters
	if p := ExpectedParams(c, headOf(&c)); p.Total != 6738415616 {
		t.Errorf("LLaMA-7B: %d parameters, want 6,738,415,616", p.Total)
	}
	t.Setenv(sizecheck.MemEnv, "64MiB")
	var err error
	if n := allocated(func() { _, err = NewZero(c, 1) }); n > 1<<20 {
		t.Errorf("NewZero allocated %d bytes before failing", n)
	}
	if err == nil || !strings.Contains(err.Error(), "6,738,415,616 parameters") || !strings.Contains(err.Error(), "the MLP") {
		t.Errorf("LLaMA-7B in 64 MiB: %v", err)
	}
	c.SetLabels([]string{"a", "b"})
	if _, err := NewZeroSeqCls(c, 1); err == nil || !strings.Contains(err.Error(), "parameters") {
		t.Errorf("sequence classifier: %v", err)
	}
}

// TestLoadChecksFileSize refuses a config.json that implies more weights
// than model.safetensors holds, before reading the tensors.
func TestLoadChecksFileSize(t *testing.T) {
	var err error
	dir := copyDir(t, testdata("llama-tiny"), func(m map[string]any) { m["num_hidden_layers"], m["intermediate_size"] = 8, 4096 })
	if n := allocated(func() { _, err = Load(dir, LoadOptions{}) }); n > 1<<20 {
		t.Errorf("Load allocated %d bytes before failing", n)
	}
	if err == nil || !strings.Contains(err.Error(), "model.safetensors has only") {
		t.Errorf("Load: %v", err)
	}
	if _, err := models.Load(testdata("llama-tiny"), models.LoadOptions{NumLabels: 1 << 40}); err == nil {
		t.Error("2^40 labels accepted")
	}
}
