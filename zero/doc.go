// Package zero is data-parallel training over a collective.Comm, with
// DeepSpeed's ZeRO stages:
//
//   - stage 0: every rank holds the whole gradient, all-reduces it once per
//     optimizer step and runs the whole optimizer (PyTorch DDP);
//   - stage 1: the optimizer state is sharded: each rank reduce-scatters the
//     gradient, updates only its share of the trainable values (and keeps
//     only that share's AdamW moments), then the ranks all-gather the
//     values;
//   - stage 2: the gradient is sharded too: as the backward finishes each
//     part of the model (nn.GradUnits: the head, each block, ...), that
//     part's gradient is reduce-scattered out of a buffer one part long and
//     accumulated into the rank's share, so a rank never holds more than
//     the largest part plus its share. (A model without nn.GradUnits is
//     one part: stage 2 then holds a whole-gradient buffer besides the
//     share, more than stage 1.)
//
// The trainable parameters are flattened part by part (Layout); each part
// is split into near-equal consecutive shares, one per rank
// (collective.Split). An Engine does a step's collective work: it owns the
// gradient buffers (the parameters' Grad tensors become views into them),
// reduces them, computes the global gradient norm exactly however the
// gradient is sharded, steps the optimizer on the rank's share, gathers the
// values, and converts the optimizer state to and from the one-process
// format, so a checkpoint written at any world size resumes at any other.
//
// Results do not depend on the stage: reductions add in a fixed order and
// the norm is summed share by share in rank order, so stages 0, 1 and 2
// give the same bits at the same world size (with one micro-batch per
// step; stage 2 adds micro-batches after reducing them, the others
// before). With one rank the Engine is the plain optimizer.
package zero
