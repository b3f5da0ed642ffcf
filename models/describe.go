package models

import "github.com/golora/golora/nn"

// Description is what "golora inspect" shows of a model: its Hugging Face
// class, the config fields worth showing (Hugging Face names, plus derived
// sizes such as head_dim), a few lines of text, and the kinds of its
// parameters in the order to print them.
type Description struct {
	Architecture string
	Config       map[string]any
	Lines        []Line
	Kinds        []string
}

// Line is one labelled line of a description ("encoder", "12 layers, …").
type Line struct{ Label, Text string }

// Describer is implemented by models that describe themselves.
type Describer interface {
	Describe() Description
	// ParamKind classifies a parameter by name, into one of Describe's
	// Kinds ("embeddings", "attention", "mlp", …) or "other".
	ParamKind(name string) string
}

// ParamCounts counts a model's parameters (values) by kind and their
// storage by dtype ("F32", "BF16", ...).
type ParamCounts struct {
	Total     int64            `json:"total"`
	Trainable int64            `json:"trainable"`
	ByKind    map[string]int64 `json:"by_kind"`
	Bytes     map[string]int64 `json:"bytes"`
}

// CountParams counts the parameters of m's tree, by m's kinds when m is a
// Describer (else all are "other").
func CountParams(m nn.Module) ParamCounts {
	c := ParamCounts{ByKind: map[string]int64{}, Bytes: map[string]int64{}}
	d, _ := m.(Describer)
	for _, p := range nn.AllParams(m) {
		n := int64(p.Len())
		c.Total += n
		if p.Trainable {
			c.Trainable += n
		}
		c.Bytes[p.Value.DType().String()] += p.Value.Bytes()
		kind := "other"
		if d != nil {
			kind = d.ParamKind(p.Name)
		}
		c.ByKind[kind] += n
	}
	return c
}
