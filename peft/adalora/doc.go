// Package adalora is AdaLoRA (Zhang et al., ICLR 2023) with Hugging Face
// PEFT's semantics (tuners/adalora): each targeted Linear gets an SVD-form
// update W = W₀ + B·(A⊙E)·α/ranknum, with A = Q [r, in], E = Λ [r, 1] and
// B = P [out, r] (PEFT's lora_A, lora_E, lora_B); a RankAllocator scores
// every singular triplet by smoothed sensitivity |w·∂L/∂w| times its
// uncertainty and, on a cubic budget schedule, zeroes the least important
// ones; an orthogonal regulariser keeps P and Q near orthogonal. The final
// allocation is saved as rank_pattern in adapter_config.json, and the
// adapter file holds only the kept ranks, as PEFT's save_pretrained writes
// it; Load restores the pruned shapes (PEFT's resize_modules_by_rank_pattern).
//
// Training needs two calls per optimizer step beside Forward and Backward:
// Regularize after the backward passes (it adds the regulariser's
// gradient) and UpdateAndAllocate after the optimizer step (PEFT's
// update_and_allocate(global_step)). Model implements train.StepHooks
// and train.StatefulHooks for that (AfterBackward, AfterStep, and the
// allocator's state in checkpoints), so a train.Trainer with Hooks set to
// the Model trains AdaLoRA as PEFT's loop does.
package adalora
