package llama

import (
	"path/filepath"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
	"github.com/golora/golora/tokenizer"
)

// TestShippedModel loads the LLaMA golora ships (assets/llama-moby-dick):
// its config, bf16 weights (4,000,000 parameters), the tokenizer beside
// it, and a few greedy tokens through the KV cache.
func TestShippedModel(t *testing.T) {
	dir := filepath.Join("..", "..", "assets", "llama-moby-dick")
	m, err := Load(dir, LoadOptions{BaseDType: tensor.BF16})
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.HiddenSize != 256 || c.NumHiddenLayers != 4 || c.NumKeyValueHeads != 4 || c.VocabSize != 4096 || !c.TieWordEmbeddings || c.TorchDType != "bfloat16" {
		t.Errorf("config %+v", c)
	}
	var n int64
	for _, p := range nn.AllParams(m) {
		n += int64(p.Len())
	}
	if n != 4_000_000 {
		t.Errorf("%d parameters, want 4,000,000", n)
	}
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != c.VocabSize {
		t.Errorf("tokenizer has %d tokens, the model %d", tok.VocabSize(), c.VocabSize)
	}
	enc, err := tok.Encode("Call me Ishmael.", true)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Generate(enc.IDs, GenerateOptions{MaxNewTokens: 5, TopP: 1, EOS: c.EOSTokenIDs}, nil)
	if err != nil || len(out) == 0 {
		t.Fatalf("generate: %v %v", out, err)
	}
	t.Logf("Call me Ishmael.%s", tok.Decode(out, true))
}
