package vit

import (
	"fmt"
	"strings"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// ParamCounts counts parameters (values, not bytes) by module kind.
type ParamCounts struct {
	Total      int64 `json:"total"`
	Trainable  int64 `json:"trainable"`
	Embeddings int64 `json:"embeddings"` // cls_token, position_embeddings, patch projection
	Attention  int64 `json:"attention"`  // query, key, value, attention.output.dense
	MLP        int64 `json:"mlp"`        // intermediate.dense, output.dense
	LayerNorm  int64 `json:"layernorm"`  // layernorm_before/after, vit.layernorm
	Classifier int64 `json:"classifier"`
	Other      int64 `json:"other"` // anything else (e.g. adapters added later)
	// Bytes is the storage of all parameter values, by dtype ("F32", "BF16").
	Bytes map[string]int64 `json:"bytes"`
}

// Kind classifies a ViT parameter name: "embeddings", "attention", "mlp",
// "layernorm", "classifier" or "other".
func Kind(name string) string {
	switch {
	case strings.HasPrefix(name, "vit.embeddings."):
		return "embeddings"
	case strings.Contains(name, "layernorm"):
		return "layernorm"
	case strings.HasPrefix(name, "classifier."):
		return "classifier"
	case !strings.HasPrefix(name, "vit.encoder.layer."):
		return "other"
	}
	for _, s := range []string{".query.", ".key.", ".value.", ".attention.output.dense."} {
		if strings.Contains(name, s) {
			return "attention"
		}
	}
	for _, s := range []string{".intermediate.dense.", ".output.dense."} {
		if strings.Contains(name, s) {
			return "mlp"
		}
	}
	return "other"
}

// Count returns the parameter counts of the model tree m (a *Model, or
// any tree with ViT names).
func Count(m nn.Module) ParamCounts {
	c := ParamCounts{Bytes: map[string]int64{}}
	for _, p := range nn.AllParams(m) {
		n := int64(p.Len())
		c.Total += n
		if p.Trainable {
			c.Trainable += n
		}
		c.Bytes[p.Value.DType().String()] += p.Value.Bytes()
		switch Kind(p.Name) {
		case "embeddings":
			c.Embeddings += n
		case "attention":
			c.Attention += n
		case "mlp":
			c.MLP += n
		case "layernorm":
			c.LayerNorm += n
		case "classifier":
			c.Classifier += n
		default:
			c.Other += n
		}
	}
	return c
}

// ExpectedCount is the parameter count a config implies, from the sizes
// alone: the cross-check of Count and of a checkpoint's completeness. The
// arithmetic saturates (internal/sizecheck), so a config with absurd sizes
// gives a count too large for anything, never a wrapped one.
func ExpectedCount(c Config) ParamCounts {
	mul, add := sizecheck.Mul, sizecheck.Add
	h, i, l := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.NumHiddenLayers)
	side := int64(0)
	if c.PatchSize > 0 {
		side = int64(c.ImageSize / c.PatchSize)
	}
	tokens := add(mul(side, side), 1)
	cpp := mul(int64(c.NumChannels), int64(c.PatchSize), int64(c.PatchSize))
	qkvBias := int64(0)
	if c.QKVBias {
		qkvBias = mul(3, h)
	}
	labels := int64(c.NumLabels)
	p := ParamCounts{
		Embeddings: add(h, mul(tokens, h), mul(h, cpp), h),
		Attention:  mul(l, add(mul(4, h, h), qkvBias, h)),
		MLP:        mul(l, add(mul(h, i), i, mul(i, h), h)),
		LayerNorm:  mul(add(mul(2, l), 1), 2, h),
		Classifier: add(mul(labels, h), labels),
	}
	p.Total = add(p.Embeddings, p.Attention, p.MLP, p.LayerNorm, p.Classifier)
	p.Bytes = map[string]int64{tensor.F32.String(): mul(4, p.Total)}
	return p
}

// DescribeParams names the parameters the config implies, for size errors:
// their count and the config fields behind the largest group, e.g.
// "85,800,194 parameters (most in the MLP: 2 × intermediate_size 3072 ×
// hidden_size 768 × num_hidden_layers 12)".
func (c *Config) DescribeParams() string { return c.describe(ExpectedCount(*c)) }

func (c *Config) describe(p ParamCounts) string {
	groups := []struct {
		n    int64
		what string
	}{
		{p.Embeddings, fmt.Sprintf("the embeddings: %d×%d patches of %d×%d×%d pixels (image_size %d, patch_size %d, num_channels %d) × hidden_size %d",
			c.ImageSize/max(c.PatchSize, 1), c.ImageSize/max(c.PatchSize, 1), c.NumChannels, c.PatchSize, c.PatchSize,
			c.ImageSize, c.PatchSize, c.NumChannels, c.HiddenSize)},
		{p.Attention, fmt.Sprintf("attention: 4 × hidden_size %d² × num_hidden_layers %d", c.HiddenSize, c.NumHiddenLayers)},
		{p.MLP, fmt.Sprintf("the MLP: 2 × intermediate_size %d × hidden_size %d × num_hidden_layers %d", c.IntermediateSize, c.HiddenSize, c.NumHiddenLayers)},
		{p.Classifier, fmt.Sprintf("the classifier: num_labels %d × hidden_size %d", c.NumLabels, c.HiddenSize)},
	}
	top := groups[0]
	for _, g := range groups[1:] {
		if g.n > top.n {
			top = g
		}
	}
	return fmt.Sprintf("%s parameters (most in %s)", sizecheck.Count(p.Total), top.what)
}

// CheckMemory checks, before anything is allocated, that the model's f32
// weights fit in the memory available (sizecheck.Available); the error
// names the fields that make them large. New, NewZero and Load call it.
func (c *Config) CheckMemory() error {
	p := ExpectedCount(*c)
	return sizecheck.Memory("config: the f32 weights of "+c.describe(p), p.Bytes[tensor.F32.String()])
}
