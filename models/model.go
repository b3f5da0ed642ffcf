package models

import (
	"github.com/golora/golora/data"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Model is a Hugging Face model golora can train, plan and save: a tree of
// modules with Hugging Face's dotted names (so target_modules,
// modules_to_save and checkpoint keys speak them), read from a batch.
type Model interface {
	nn.Module
	// ForwardBatch maps a batch to logits [Spec().Rows(b.N), Spec().Classes]
	// (one row per target of the batch). The logits belong to the model
	// and stay valid until its next forward.
	ForwardBatch(b *data.Batch) *tensor.Tensor
	// Backward takes dL/dlogits of the last ForwardBatch, accumulates the
	// gradients of the trainable parameters, and goes down only as far as
	// the lowest module that has one. It returns dL/dinput when the model
	// computes it (an image model asked to), else nil.
	Backward(dlogits *tensor.Tensor) *tensor.Tensor
	// Spec is what the model reads and predicts.
	Spec() data.Spec
	// PlanBatch declares the buffers and GEMM FLOPs of a ForwardBatch on n
	// examples at full length and, when backward, of the Backward after
	// it, with the current trainability and checkpointing (nn.Planner).
	PlanBatch(n int, backward bool) nn.Cost
	// Blocks is how many transformer blocks a step runs forward (with
	// gradient checkpointing's recomputations) and backward, for the
	// planner's estimate of the time outside GEMMs.
	Blocks() (forward, backward int)
	// Dims are the model's main sizes, for the planner's calibration.
	Dims() Dims
	// SetGradientCheckpointing keeps only each block's input in the
	// forward and recomputes the block before its backward.
	SetGradientCheckpointing(on bool)
	GradientCheckpointing() bool
	// OutputHead is the module that maps hidden states to logits, which
	// PEFT's "all-linear" target leaves out ("" if none).
	OutputHead() string
	// Save writes config.json and model.safetensors into dir, atomically.
	Save(dir string) error
	// ModelType is config.json's model_type ("vit", "llama", "bert").
	ModelType() string
	// String summarises the architecture in one line.
	String() string
}

// Dims are a transformer's main sizes: hidden width, MLP width, attention
// heads (query heads, and key/value heads for grouped-query attention),
// blocks and the tokens one example makes.
type Dims struct {
	Hidden, Intermediate, Heads, KVHeads, Layers, Tokens int
}

// Classifier is implemented by models with a classification head, which
// fine-tuning on a new label set replaces.
type Classifier interface {
	Model
	// Labels are the names of the head's outputs, in order.
	Labels() []string
	// NewHead gives the model a freshly initialised head for labels, as
	// transformers does for a head of another size (seeded).
	NewHead(labels []string, seed uint64) error
}

// InputGradienter is implemented by models that can return dL/dinput from
// Backward (an image model's dL/dpixel_values).
type InputGradienter interface {
	SetInputGrad(on bool)
}

// SeqLener is implemented by text models: SetSeqLen sets the tokens per
// example that Spec reports and PlanBatch plans for (at most the model's
// max_position_embeddings).
type SeqLener interface {
	SetSeqLen(n int) error
}

// UnitHook is the callback a model's nn.GradUnits OnGradUnit stores;
// Done reports a unit whose gradients are final (nothing when unset).
type UnitHook func(unit int)

// Done calls the hook for unit u, if one is set.
func (h UnitHook) Done(u int) {
	if h != nil {
		h(u)
	}
}
