package bert

import (
	"fmt"
	"os"

	"github.com/golora/golora/internal/sizecheck"
)

// Params are the parameter counts a config implies, by part, computed with
// saturating arithmetic (sizecheck.Mul, Add).
type Params struct {
	Embeddings, Encoder, Pooler, Classifier, Total int64
}

// ExpectedParams counts the parameters of config c.
func ExpectedParams(c Config) Params {
	mul, add := sizecheck.Mul, sizecheck.Add
	h, i, l := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.NumHiddenLayers)
	labels := int64(c.NumLabels())
	p := Params{
		Embeddings: add(mul(add(int64(c.VocabSize), int64(c.MaxPositionEmbeddings), int64(c.TypeVocabSize)), h), mul(2, h)),
		// per layer: q, k, v, attention output (weights and biases), two
		// LayerNorms, the intermediate and output dense layers.
		Encoder:    mul(l, add(mul(4, add(mul(h, h), h)), mul(4, h), mul(h, i), i, mul(i, h), h)),
		Pooler:     add(mul(h, h), h),
		Classifier: add(mul(labels, h), labels),
	}
	p.Total = add(p.Embeddings, p.Encoder, p.Pooler, p.Classifier)
	return p
}

// describe names the parameters of c for size errors.
func (c *Config) describe(p Params) string {
	what := fmt.Sprintf("the encoder: hidden_size %d, intermediate_size %d, num_hidden_layers %d", c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers)
	if p.Embeddings > p.Encoder {
		what = fmt.Sprintf("the embeddings: (vocab_size %d + max_position_embeddings %d) × hidden_size %d", c.VocabSize, c.MaxPositionEmbeddings, c.HiddenSize)
	}
	return fmt.Sprintf("%s parameters (most in %s)", sizecheck.Count(p.Total), what)
}

// CheckMemory checks, before anything is allocated, that the f32 weights
// fit in the memory available; the constructors and Load call it.
func (c *Config) CheckMemory() error {
	p := ExpectedParams(*c)
	return sizecheck.Memory("config: the f32 weights of "+c.describe(p), sizecheck.Mul(4, p.Total))
}

// checkWeightsFile checks, before the file is read, that it can hold the
// encoder's parameters at 2 bytes each (heads left out: they may be
// fresh) and that the file and the f32 model fit in memory together.
func checkWeightsFile(c *Config, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("bert: %w", err)
	}
	p := ExpectedParams(*c)
	body := sizecheck.Add(p.Embeddings, p.Encoder)
	if err := sizecheck.FileHolds("config.json: the "+c.describe(p)+" at 2 bytes or more each", sizecheck.Mul(2, body), path, st.Size()); err != nil {
		return fmt.Errorf("bert: %w", err)
	}
	return sizecheck.Memory("bert: loading "+path+" and the f32 weights of "+c.describe(p), sizecheck.Add(st.Size(), sizecheck.Mul(4, p.Total)))
}
