// Package train runs the training loop: micro-batches with gradient
// accumulation, the optimizer and learning-rate schedule, gradient
// clipping, evaluation, progress on a terminal, metrics as JSON lines,
// a chart of the curves, and checkpoints that resume bit for bit.
//
// Its configuration, Args, uses the names of Hugging Face's
// TrainingArguments where they fit, so a recipe reads the same in both
// worlds. It trains any Model: an nn.Module tree with a Forward from
// inputs to logits and a Backward from dlogits, whose trainable
// parameters (nn.TrainableParams) are what the optimizer updates. A full
// model and a model with LoRA adapters injected look the same to it.
// Methods that need more than forward and backward plug into every
// optimizer step through StepHooks (AdaLoRA's regulariser and rank
// allocation), and LoRA+ through a per-parameter learning-rate multiplier
// (Trainer.LRScale).
//
// A resumed run ends with the same bits as an uninterrupted one (same seed,
// same thread count) because everything random is a function of saved
// state: the data order is a permutation drawn from (seed, epoch), dropout
// masks are drawn from (module, micro-step) through nn.SetStep, and the
// checkpoint holds the exact trainable values and optimizer moments.
//
// With a Comm of several ranks (package collective: mpirun, or an
// in-process group) the Trainer is one rank of data-parallel training:
// every rank takes its part of each global batch, gradients add up over
// the ranks with ZeRO stage 0, 1 or 2 (package zero, Args.ZeroStage), and
// the run is that of one process with the global batch, to rounding
// (dropout masks included). Rank 0 alone writes; checkpoints hold the
// gathered optimizer state and resume at any world size with the same
// global batch. A rank that fails makes the others fail too (the Comm's
// Abort), and a checkpoint is written only after every rank's part of it
// has arrived.
package train
