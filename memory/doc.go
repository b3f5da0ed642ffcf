// Package memory accounts for golora's large buffers by category: weights
// (per dtype), gradients, optimizer state, activations saved for the
// backward, workspace and data batches. Live and peak bytes per category
// are kept in atomic counters, cheap enough for every allocation, and the
// process's resident set (VmRSS, VmHWM) is read beside them.
//
// Buffers allocated with Alloc or Tensor are counted when made and
// uncounted when the garbage collector frees them, so "live" means
// reachable, as the Go heap sees it. Weights are counted as a gauge set
// from the model tree (SetWeights), because their tensors are replaced
// freely (conversion to bf16, fp16, int8 or NF4; loading) without passing
// through here.
//
// The planner (package plan) predicts the same categories from a model
// configuration; the two share the modules' own size declarations, so a
// disagreement is a bug in one of them.
package memory
