package vit

import (
	"strings"

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
// alone: the cross-check of Count and of a checkpoint's completeness.
func ExpectedCount(c Config) ParamCounts {
	h, i, l := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.NumHiddenLayers)
	cpp := int64(c.NumChannels * c.PatchSize * c.PatchSize)
	qkvBias := int64(0)
	if c.QKVBias {
		qkvBias = 3 * h
	}
	p := ParamCounts{
		Embeddings: h + int64(c.Tokens())*h + h*cpp + h,
		Attention:  l * (4*h*h + qkvBias + h),
		MLP:        l * (h*i + i + i*h + h),
		LayerNorm:  (2*l + 1) * 2 * h,
		Classifier: int64(c.NumLabels)*h + int64(c.NumLabels),
	}
	p.Total = p.Embeddings + p.Attention + p.MLP + p.LayerNorm + p.Classifier
	p.Bytes = map[string]int64{tensor.F32.String(): 4 * p.Total}
	return p
}
