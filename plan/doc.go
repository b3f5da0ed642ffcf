// Package plan predicts what a training step costs before it runs: bytes
// per memory category (weights by dtype, gradients, optimizer state,
// activations, workspace, data), GEMM FLOPs (forward, backward to
// activations, backward to weights) and step time, for any models.Model
// (a registered preset or a config.json) with full fine-tuning, LoRA or
// AdaLoRA (at init_r, with its rank allocator's state and regulariser's
// workspace), frozen weights in f32, bf16, fp16, int8 or NF4 (QLoRA, optionally
// double-quantised), with or without gradient checkpointing; with a budget,
// the largest batch that fits. With data parallelism (Setup.Parallel) it
// predicts one rank: its sharded gradients and optimizer state at each
// ZeRO stage, and the bytes its collective operations send per optimizer
// step (package zero's layout of the trainable parameters, which the
// trainer uses too).
//
// Sizes come from one place, as in llm.c's fill_in_activation_sizes: the
// modules' own Plan methods (nn.Planner), which declare what their Forward
// and Backward allocate and compute from their sizes and flags. The planner
// builds the module tree of the configuration (zero weights), applies the
// method, and asks it; the modules' tests check each declaration against
// what actually runs, so prediction and measurement agree by construction.
//
// Step time comes from the same declarations: every module lists the
// kernel calls its Forward and Backward run (nn.Cost.Ops: each GEMM with
// its shape, transposes, strides and weight dtype; each row or elementwise
// kernel with its size), and Calibrate times each distinct op once on this
// machine at the kernels' thread count, cycling through copies of its
// buffers so that operands come from memory as in a step. StepMS is the
// sum of count × time: nothing is fitted to a model family, and an op the
// calibration did not time is an error, not a zero.
package plan
