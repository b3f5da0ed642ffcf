package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/tensor"
)

// Setup is a model configuration and a training method.
type Setup struct {
	Config vit.Config
	// Method is "full" (every parameter trains) or "lora".
	Method string
	// LoRA configures the adapters when Method is "lora".
	LoRA lora.Config
	// BaseDType stores the frozen Linear weights (f32 or bf16).
	BaseDType tensor.DType
	// GradientCheckpointing recomputes each block's forward in the backward.
	GradientCheckpointing bool
}

// Methods are the valid values of Setup.Method.
var Methods = []string{"full", "lora"}

// DefaultLoRA is golora's benchmark LoRA: r 16, alpha 16, query and value,
// the classifier saved.
func DefaultLoRA() lora.Config {
	c := lora.DefaultConfig()
	c.R, c.LoraAlpha = 16, 16
	c.TargetModules = lora.TargetList("query", "value")
	c.ModulesToSave = []string{"classifier"}
	return c
}

// Presets are the benchmark models by name.
var Presets = map[string]func() vit.Config{
	"vit-tiny-224": func() vit.Config { return preset(224, 16, 12) },
	"vit-small-64": func() vit.Config { return preset(64, 8, 6) },
}

func preset(image, patch, layers int) vit.Config {
	c := vit.DefaultConfig()
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 192, layers, 3, 768
	c.ImageSize, c.PatchSize = image, patch
	c.SetLabels(vit.DefaultLabels(10))
	return c
}

// Preset returns the configuration of a preset, or an error listing them.
func Preset(name string) (vit.Config, error) {
	f, ok := Presets[name]
	if !ok {
		names := make([]string, 0, len(Presets))
		for n := range Presets {
			names = append(names, n)
		}
		slices.Sort(names)
		return vit.Config{}, fmt.Errorf("plan: unknown preset %q (have %s)", name, strings.Join(names, ", "))
	}
	return f(), nil
}

// Model is a model set up for a method: the ViT, and its LoRA wrapper.
type Model struct {
	ViT  *vit.Model
	LoRA *lora.Model // nil for full fine-tuning
}

// Build makes the module tree of s with its method applied: for "full",
// every parameter trains; for "lora", adapters are injected; frozen Linear
// weights are converted to BaseDType; checkpointing is switched on. The
// weights are zero (LayerNorms one) unless random; seed fixes adapters and
// dropout masks.
func Build(s Setup, random bool, seed uint64) (*Model, error) {
	var m *vit.Model
	var err error
	if random {
		m, err = vit.New(s.Config, seed)
	} else {
		m, err = vit.NewZero(s.Config, seed)
	}
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return Apply(s, m, seed)
}

// Apply sets up the existing model m for s's method (see Build).
func Apply(s Setup, m *vit.Model, seed uint64) (*Model, error) {
	out := &Model{ViT: m}
	switch s.Method {
	case "full":
		for _, p := range nn.AllParams(m) {
			if err := p.SetTrainable(true); err != nil {
				return nil, fmt.Errorf("plan: full fine-tuning: %w", err)
			}
		}
	case "lora":
		lm, err := lora.Inject(m, s.LoRA, seed)
		if err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
		out.LoRA = lm
	default:
		return nil, fmt.Errorf("plan: unknown method %q (want full or lora)", s.Method)
	}
	switch s.BaseDType {
	case tensor.F32:
	case tensor.BF16:
		nn.ConvertFrozenLinears(m, tensor.BF16)
	default:
		return nil, fmt.Errorf("plan: base dtype %v (want F32 or BF16)", s.BaseDType)
	}
	m.SetGradientCheckpointing(s.GradientCheckpointing)
	return out, nil
}

// Root is the module tree.
func (m *Model) Root() nn.Module { return m.ViT }

// Estimate is the predicted cost of one training step.
type Estimate struct {
	Bytes memory.Bytes
	// GEMM FLOPs: forward (with recomputation), backward to activations,
	// backward to weights; and of their sum, attention's and LoRA's.
	Forward, BackwardDX, BackwardDW int64
	Attention, LowRank              int64
	// For the non-GEMM part of the step time: encoder block forwards
	// (with recomputations) and backwards, and trainable values (AdamW).
	BlockForwards, BlockBackwards int
	TrainableValues               int64
}

// TotalBytes is the sum over the categories.
func (e Estimate) TotalBytes() int64 { return e.Bytes.Total() }

// FLOPs is the GEMM FLOPs of one step.
func (e Estimate) FLOPs() int64 { return e.Forward + e.BackwardDX + e.BackwardDW }

// AdamStateBytes is AdamW's state per trainable value (exp_avg and
// exp_avg_sq in f32).
const AdamStateBytes = 8

// Estimate predicts one training step with AdamW on a batch of the given
// size: parameter values by dtype, a gradient and Adam's two moments per
// trainable value, what the modules declare for forward, cross-entropy and
// backward, and the batch itself (f32 pixels, int32 labels).
func (m *Model) Estimate(batch int) Estimate {
	var e Estimate
	for _, p := range nn.AllParams(m.ViT) {
		e.Bytes[memory.WeightsOf(p.Value.DType())] += p.Value.Bytes()
		if p.Trainable {
			e.TrainableValues += int64(p.Len())
			e.Bytes[memory.Gradients] += 4 * int64(p.Len())
			e.Bytes[memory.Optimizer] += AdamStateBytes * int64(p.Len())
		}
	}
	c := &m.ViT.Config
	in := []int{batch, c.NumChannels, c.ImageSize, c.ImageSize}
	var ce nn.CrossEntropyLoss
	k := m.ViT.Plan(in, true).Plus(ce.Plan([]int{batch, c.NumLabels}, true))
	t := k.Total()
	e.Bytes[memory.Activations] = t[memory.Activations]
	e.Bytes[memory.Workspace] = t[memory.Workspace]
	e.Bytes[memory.Data] = DataBytes(*c, batch)
	e.Forward, e.BackwardDX, e.BackwardDW = k.Forward, k.BackwardDX, k.BackwardDW
	e.Attention, e.LowRank = k.Attention, k.LowRank
	e.BlockBackwards = m.ViT.BlocksBackward()
	e.BlockForwards = len(m.ViT.Layers)
	if m.ViT.GradientCheckpointing() && e.BlockBackwards > 1 {
		e.BlockForwards += e.BlockBackwards - 1
	}
	return e
}

// DataBytes is one batch: f32 pixel values and int32 labels.
func DataBytes(c vit.Config, batch int) int64 {
	return 4*int64(batch*c.NumChannels*c.ImageSize*c.ImageSize) + 4*int64(batch)
}

// Predict builds s (zero weights) and estimates a step of the given batch.
func Predict(s Setup, batch int) (Estimate, error) {
	m, err := Build(s, false, 1)
	if err != nil {
		return Estimate{}, err
	}
	return m.Estimate(batch), nil
}

// MaxBatch is the largest batch whose predicted bytes fit in budget, found
// by binary search over Estimate; 0 when not even one image fits.
func (m *Model) MaxBatch(budget int64) int {
	fits := func(b int) bool { return m.Estimate(b).TotalBytes() <= budget }
	if !fits(1) {
		return 0
	}
	lo, hi := 1, 2 // fits(lo), and hi is to be tested
	for fits(hi) {
		lo, hi = hi, 2*hi
		if hi > 1<<24 {
			return lo
		}
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}
