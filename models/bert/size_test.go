package bert

import (
	"strings"
	"testing"

	"github.com/golora/golora/internal/sizecheck"
)

func TestAbsurdSizes(t *testing.T) {
	for _, tc := range []struct{ json, field string }{
		{`{"model_type": "bert", "vocab_size": 1000000000}`, "vocab_size"},
		{`{"model_type": "bert", "max_position_embeddings": 1000000000}`, "max_position_embeddings"},
		{`{"model_type": "bert", "type_vocab_size": 100000}`, "type_vocab_size"},
		{`{"model_type": "bert", "num_labels": 1000000000}`, "num_labels"},
		{`{"model_type": "bert", "intermediate_size": 10000000000}`, "intermediate_size"},
	} {
		if _, err := ParseConfig([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.field) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line naming %s", tc.json, err, tc.field)
		}
	}
}

func TestCheckMemory(t *testing.T) {
	c := DefaultConfig() // bert-base-uncased with 2 labels: 109,483,778 parameters
	if p := ExpectedParams(c); p.Total != 109483778 {
		t.Errorf("bert-base: %d parameters, want 109,483,778", p.Total)
	}
	t.Setenv(sizecheck.MemEnv, "64MiB")
	if _, err := NewZero(c, 1); err == nil || !strings.Contains(err.Error(), "109,483,778 parameters") {
		t.Errorf("bert-base in 64 MiB: %v", err)
	}
}

// TestLoadChecksFileSize refuses a config.json that implies more weights
// than model.safetensors holds, before reading the tensors.
func TestLoadChecksFileSize(t *testing.T) {
	var err error
	dir := copyDir(t, func(m map[string]any) { m["num_hidden_layers"], m["intermediate_size"] = 12, 3072 }, nil)
	if _, err = Load(dir, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "model.safetensors has only") {
		t.Errorf("Load: %v", err)
	}
}
