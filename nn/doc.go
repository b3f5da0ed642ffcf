// Package nn holds golora's modules: Linear, LayerNorm, RMSNorm, Embedding,
// Dropout, activations (GELU, ReLU, SiLU, tanh), multi-head self-attention
// (grouped-query heads, rotary position embeddings, causal and padding
// masks, a KV cache for generation), the MLPs (BERT/ViT's, LLaMA's gated
// SwiGLU) and the losses, each with an explicit Forward and Backward
// written out plainly (llm.c style).
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
// Liveness: what a Forward writes is kept for the Backward only if some
// Backward reads it. A parent decides it for its children before their
// Forward, from the same flags its Backward uses (trainability,
// SetInputGrad), walking its children from last to first: a child's output
// is kept (KeepOutput) when the next child's Backward reads its input
// (NeedsInput) — a frozen Linear needs no input, a trainable one (dW) or a
// LoRA layer (dA) does, GELU and LayerNorm do, a dropout does not (its
// mask is regenerated), a residual add does not. Attention keeps K, Q and V
// only for dQ, dK and dP, and its probabilities only when any of its
// backward runs. A kept output is an activation; any other output is
// written to a transient buffer (workspace, OutputBuffer) that the blocks
// of a model share, since they run one after another: one per position in
// the block instead of one per block. LayerNorm and the activations write
// their output to the transient buffer even when it is kept and recompute
// it (Restorer) from what they keep anyway (their input, LayerNorm's
// per-row statistics): one elementwise pass instead of a buffer per block.
// A model that hands buffers from block to block calls Restore on a block
// before its Backward when other blocks ran on those buffers since. Plan
// declares outputs as Slots keyed by owner and field; Pool re-keys a
// block's slots by position, so the planner's maximum per position is the
// set the hand-off leaves allocated, and plan and measurement still agree
// byte for byte. Modules that do not implement OutputKeeper and
// InputReader keep their output and are taken to read their input, as
// before.
//
// Backward contract: Backward(dy) adds into the gradients of the module's
// trainable parameters and returns dx, or nil when the module was told (via
// SetInputGrad(false)) that nothing below it needs a gradient. A frozen
// Linear computes only dx, never dW, and keeps no reference to its input.
package nn
