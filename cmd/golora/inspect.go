package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/golora/golora/models/vit"
)

func init() {
	commands["inspect"] = command{summary: "show a model directory's config and parameter counts", run: runInspect}
}

// inspectOptions are the parsed arguments of "golora inspect".
type inspectOptions struct {
	dir     string
	adapter string
	json    bool
}

// inspectReport is what "golora inspect" prints, as text or JSON. Sections
// are separate fields so that later ones (an adapter's) can be added
// without touching the others.
type inspectReport struct {
	Dir          string           `json:"dir,omitempty"`
	Architecture string           `json:"architecture,omitempty"`
	ModelType    string           `json:"model_type,omitempty"`
	Config       *inspectConfig   `json:"config,omitempty"`
	Parameters   *vit.ParamCounts `json:"parameters,omitempty"`
	Adapter      *adapterReport   `json:"adapter,omitempty"`
}

// inspectConfig is the config summary, with Hugging Face field names plus
// the derived head_dim and tokens.
type inspectConfig struct {
	HiddenSize                int      `json:"hidden_size"`
	NumHiddenLayers           int      `json:"num_hidden_layers"`
	NumAttentionHeads         int      `json:"num_attention_heads"`
	HeadDim                   int      `json:"head_dim"`
	IntermediateSize          int      `json:"intermediate_size"`
	HiddenAct                 string   `json:"hidden_act"`
	LayerNormEps              float64  `json:"layer_norm_eps"`
	QKVBias                   bool     `json:"qkv_bias"`
	HiddenDropoutProb         float64  `json:"hidden_dropout_prob"`
	AttentionProbsDropoutProb float64  `json:"attention_probs_dropout_prob"`
	ImageSize                 int      `json:"image_size"`
	PatchSize                 int      `json:"patch_size"`
	NumChannels               int      `json:"num_channels"`
	Tokens                    int      `json:"tokens"`
	NumLabels                 int      `json:"num_labels"`
	Labels                    []string `json:"labels"`
}

func runInspect(args []string, stdout, stderr io.Writer) error {
	opts, err := parseInspect(args, stderr)
	if err != nil {
		return err
	}
	rep, err := inspect(opts)
	if err != nil {
		return err
	}
	if opts.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.writeText(stdout)
	return nil
}

// parseInspect accepts flags before or after MODEL_DIR.
func parseInspect(args []string, stderr io.Writer) (inspectOptions, error) {
	var opts inspectOptions
	fs := newFlagSet("inspect", "[MODEL_DIR] [--adapter DIR] [--json]", stderr)
	fs.BoolVar(&opts.json, "json", false, "print the report as JSON")
	fs.StringVar(&opts.adapter, "adapter", "", "a PEFT adapter directory to describe (with MODEL_DIR: loaded onto the model)")
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return opts, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) > 1 || len(pos) == 0 && opts.adapter == "" {
		return opts, usagef("inspect: want one MODEL_DIR and/or --adapter DIR, got %d arguments (usage: golora inspect [MODEL_DIR] [--adapter DIR] [--json])", len(pos))
	}
	if len(pos) == 1 {
		opts.dir = pos[0]
	}
	return opts, nil
}

// inspect loads the model (checking every tensor) and/or the adapter and
// builds the report.
func inspect(opts inspectOptions) (*inspectReport, error) {
	if opts.dir == "" {
		a, err := inspectAdapter(opts.adapter, nil)
		if err != nil {
			return nil, err
		}
		return &inspectReport{Adapter: a}, nil
	}
	m, err := vit.Load(opts.dir, vit.LoadOptions{})
	if err != nil {
		return nil, err
	}
	c := &m.Config
	counts := vit.Count(m)
	rep := &inspectReport{
		Dir:          opts.dir,
		Architecture: vit.Architecture,
		ModelType:    c.ModelType,
		Parameters:   &counts,
		Config: &inspectConfig{
			HiddenSize: c.HiddenSize, NumHiddenLayers: c.NumHiddenLayers, NumAttentionHeads: c.NumAttentionHeads,
			HeadDim: c.HeadDim(), IntermediateSize: c.IntermediateSize, HiddenAct: c.HiddenAct,
			LayerNormEps: c.LayerNormEps, QKVBias: c.QKVBias,
			HiddenDropoutProb: c.HiddenDropoutProb, AttentionProbsDropoutProb: c.AttentionProbsDropoutProb,
			ImageSize: c.ImageSize, PatchSize: c.PatchSize, NumChannels: c.NumChannels, Tokens: c.Tokens(),
			NumLabels: c.NumLabels, Labels: c.Labels(),
		},
	}
	if opts.adapter != "" {
		if rep.Adapter, err = inspectAdapter(opts.adapter, m); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func (r *inspectReport) writeText(w io.Writer) {
	if r.Config == nil {
		r.Adapter.writeText(w)
		return
	}
	defer r.Adapter.writeText(w)
	c, p := r.Config, r.Parameters
	fmt.Fprintf(w, "model         %s\n", r.Dir)
	fmt.Fprintf(w, "architecture  %s (model_type %s)\n", r.Architecture, r.ModelType)
	fmt.Fprintf(w, "encoder       %d layers, hidden %d, %d heads of %d, intermediate %d, %s, layer_norm_eps %g, qkv_bias %v\n",
		c.NumHiddenLayers, c.HiddenSize, c.NumAttentionHeads, c.HeadDim, c.IntermediateSize, c.HiddenAct, c.LayerNormEps, c.QKVBias)
	fmt.Fprintf(w, "image         %dx%d, %d channels, patch %d: %d patches + CLS = %d tokens\n",
		c.ImageSize, c.ImageSize, c.NumChannels, c.PatchSize, c.Tokens-1, c.Tokens)
	fmt.Fprintf(w, "dropout       hidden %g, attention %g\n", c.HiddenDropoutProb, c.AttentionProbsDropoutProb)
	labels := c.Labels
	more := ""
	if len(labels) > 10 {
		labels, more = labels[:10], fmt.Sprintf(", … (%d more)", len(c.Labels)-10)
	}
	fmt.Fprintf(w, "labels        %d: %s%s\n", c.NumLabels, strings.Join(labels, ", "), more)
	var bytes []string
	for _, dt := range []string{"F32", "BF16"} {
		if b := p.Bytes[dt]; b > 0 {
			bytes = append(bytes, fmt.Sprintf("%s %s", dt, humanBytes(b)))
		}
	}
	fmt.Fprintf(w, "parameters    %s (%s)\n", thousands(p.Total), strings.Join(bytes, ", "))
	for _, k := range []struct {
		name string
		n    int64
	}{{"embeddings", p.Embeddings}, {"attention", p.Attention}, {"mlp", p.MLP}, {"layernorm", p.LayerNorm}, {"classifier", p.Classifier}, {"other", p.Other}} {
		if k.n == 0 && k.name == "other" {
			continue
		}
		fmt.Fprintf(w, "  %-11s %12s  %5.1f%%\n", k.name, thousands(k.n), 100*float64(k.n)/float64(p.Total))
	}
}

// thousands formats n with comma separators (1,234,567).
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// humanBytes formats a byte count in KiB, MiB or GiB.
func humanBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}
