package llama

import (
	"fmt"
	"os"

	"github.com/golora/golora/internal/sizecheck"
)

// Params are the parameter counts a config implies, by part, computed with
// saturating arithmetic (sizecheck.Mul, Add): the cross-check of a
// checkpoint's size before it is read, and of memory before allocation.
type Params struct {
	Embeddings, Attention, MLP, Norm, Head int64 // Head: lm_head (0 when tied) or score
	Total                                  int64
}

// ExpectedParams counts the parameters of config c with an output head of
// head outputs (0: tied lm_head; vocab_size: untied lm_head; num_labels:
// score).
func ExpectedParams(c Config, head int) Params {
	mul, add := sizecheck.Mul, sizecheck.Add
	h, i, l := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.NumHiddenLayers)
	q, kv := mul(int64(c.NumAttentionHeads), int64(c.HeadDim())), mul(int64(c.NumKeyValueHeads), int64(c.HeadDim()))
	var attnBias, mlpBias int64
	if c.AttentionBias {
		attnBias = add(q, kv, kv, h)
	}
	if c.MLPBias {
		mlpBias = add(i, i, h)
	}
	p := Params{
		Embeddings: mul(int64(c.VocabSize), h),
		Attention:  mul(l, add(mul(h, q), mul(2, h, kv), mul(q, h), attnBias)),
		MLP:        mul(l, add(mul(3, h, i), mlpBias)),
		Norm:       mul(add(mul(2, l), 1), h),
		Head:       mul(int64(head), h),
	}
	p.Total = add(p.Embeddings, p.Attention, p.MLP, p.Norm, p.Head)
	return p
}

// headOf is the head size of a causal LM of config c (0 when tied).
func headOf(c *Config) int {
	if c.TieWordEmbeddings {
		return 0
	}
	return c.VocabSize
}

// describe names the parameters of c for size errors: their count and the
// fields behind the largest part.
func (c *Config) describe(p Params) string {
	groups := []struct {
		n    int64
		what string
	}{
		{p.Embeddings, fmt.Sprintf("the embeddings: vocab_size %d × hidden_size %d", c.VocabSize, c.HiddenSize)},
		{p.Attention, fmt.Sprintf("attention: hidden_size %d × (q, k, v, o of %d heads of %d) × num_hidden_layers %d", c.HiddenSize, c.NumAttentionHeads, c.HeadDim(), c.NumHiddenLayers)},
		{p.MLP, fmt.Sprintf("the MLP: 3 × intermediate_size %d × hidden_size %d × num_hidden_layers %d", c.IntermediateSize, c.HiddenSize, c.NumHiddenLayers)},
		{p.Head, fmt.Sprintf("the head: %d outputs × hidden_size %d", p.Head/max(int64(c.HiddenSize), 1), c.HiddenSize)},
	}
	top := groups[0]
	for _, g := range groups[1:] {
		if g.n > top.n {
			top = g
		}
	}
	return fmt.Sprintf("%s parameters (most in %s)", sizecheck.Count(p.Total), top.what)
}

// checkMemory checks, before anything is allocated, that the f32 weights
// of c with a head of head outputs fit in the memory available.
func (c *Config) checkMemory(head int) error {
	p := ExpectedParams(*c, head)
	return sizecheck.Memory("config: the f32 weights of "+c.describe(p), sizecheck.Mul(4, p.Total))
}

// CheckMemory checks that the causal LM of c fits in memory (its f32
// weights); the constructors and Load call it.
func (c *Config) CheckMemory() error { return c.checkMemory(headOf(c)) }

// checkWeightsFile checks, before the file is read, that it can hold the
// body's parameters at 2 bytes each (bf16, the smallest dtype Load
// converts; heads are left out, as they may be fresh or tied) and that the
// file and the f32 model fit in memory together.
func checkWeightsFile(c *Config, head int, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("llama: %w", err)
	}
	p := ExpectedParams(*c, head)
	body := sizecheck.Add(p.Embeddings, p.Attention, p.MLP, p.Norm)
	if err := sizecheck.FileHolds("config.json: the "+c.describe(p)+" at 2 bytes or more each", sizecheck.Mul(2, body), path, st.Size()); err != nil {
		return fmt.Errorf("llama: %w", err)
	}
	return sizecheck.Memory("llama: loading "+path+" and the f32 weights of "+c.describe(p), sizecheck.Add(st.Size(), sizecheck.Mul(4, p.Total)))
}
