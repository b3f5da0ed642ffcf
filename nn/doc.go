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
// Buffers are allocated through package memory with a category: what a
// Forward writes is an activation, what a Backward or a scratch uses is
// workspace (ReuseAs). Each module declares, in Plan, the bytes per category
// and the GEMM FLOPs its Forward and Backward take for an input shape; the
// planner sums these declarations and tests check them against what runs.
// Modules list their buffers (Buffered) so a model can hand one set from
// block to block (SwapBuffers): shared workspace, and with gradient
// checkpointing shared activations.
//
// Backward contract: Backward(dy) adds into the gradients of the module's
// trainable parameters and returns dx, or nil when the module was told (via
// SetInputGrad(false)) that nothing below it needs a gradient. A frozen
// Linear computes only dx, never dW, and keeps no reference to its input.
package nn
