// Package nn holds golora's modules: Linear, LayerNorm, Embedding, Dropout,
// GELU, multi-head self-attention, MLP and the losses, each with an explicit
// Forward and Backward written out plainly (llm.c style).
//
// A model is a tree of modules, each carrying its Hugging Face dotted name,
// so target_modules, modules_to_save and checkpoint keys all speak the same
// names. Parameters (Param) have a gradient only while trainable.
//
// Buffers: each module owns its output and input-gradient buffers and reuses
// them from step to step (no allocation churn). A tensor returned by Forward
// or Backward stays valid until that module's next Forward or Backward.
//
// Backward contract: Backward(dy) adds into the gradients of the module's
// trainable parameters and returns dx, or nil when the module was told (via
// SetInputGrad(false)) that nothing below it needs a gradient. A frozen
// Linear computes only dx, never dW, and keeps no reference to its input.
package nn
