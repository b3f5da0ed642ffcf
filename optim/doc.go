// Package optim updates trainable parameters: AdamW and SGD with momentum
// (torch.optim semantics), the learning-rate schedules of Hugging Face's
// get_scheduler, and global-norm gradient clipping as
// torch.nn.utils.clip_grad_norm_.
//
// Optimizer state exists only for trainable parameters (nn.Param with a
// gradient): a frozen base weight costs its value and nothing else, which is
// most of LoRA's memory saving. State is exposed as a map of named tensors,
// "<param name>.exp_avg" and so on, so a trainer writes it to safetensors and
// reads it back for a bitwise-identical resume.
//
// A training step reads:
//
//	norm, err := optim.ClipGradNorm(params, maxNorm) // optional
//	opt.SetLR(baseLR * sched.Multiplier(step))        // step counts from 0
//	opt.Step()
package optim
