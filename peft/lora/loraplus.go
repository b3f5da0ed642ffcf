package lora

import (
	"fmt"
	"math"
	"strings"

	"github.com/golora/golora/nn"
)

// LoraPlus is LoRA+ (Hayou et al. 2024) as PEFT's create_loraplus_optimizer
// builds its parameter groups: B matrices learn faster than A matrices.
type LoraPlus struct {
	// LRRatio is loraplus_lr_ratio: the learning rate of lora_B (and of
	// every 1-D parameter) over the base learning rate; the paper suggests
	// 2⁴.
	LRRatio float64
	// LREmbedding is loraplus_lr_embedding, the absolute learning rate of
	// LoRA embedding factors (lora_embedding_A/B; PEFT's default 1e-6).
	// golora adapts Linear layers only, so no parameter has it yet.
	// (PEFT's own test for the embedding group looks the parameter up
	// where it means its module, so in PEFT it never applies either.)
	LREmbedding float64
}

// DefaultLREmbedding is PEFT's loraplus_lr_embedding default.
const DefaultLREmbedding = 1e-6

// Validate checks the ratio and the embedding rate.
func (c LoraPlus) Validate() error {
	if !(c.LRRatio > 0) || math.IsInf(c.LRRatio, 0) {
		return fmt.Errorf("lora: loraplus_lr_ratio must be a positive number, got %v", c.LRRatio)
	}
	if !(c.LREmbedding >= 0) || math.IsInf(c.LREmbedding, 0) {
		return fmt.Errorf("lora: loraplus_lr_embedding must be a finite rate >= 0, got %v", c.LREmbedding)
	}
	return nil
}

// Scale returns the learning-rate multiplier of each trainable parameter
// for a base learning rate lr, PEFT's groups turned into factors of lr
// (optim.AdamWConfig.LRScale, optim.SGDConfig.LRScale):
//
//   - groupB and groupB_no_decay, lr·ratio: every lora_B weight and every
//     1-D parameter (biases, LayerNorm weights, DoRA magnitudes, a
//     classifier bias);
//   - embedding, loraplus_lr_embedding: LoRA embedding factors;
//   - groupA, lr: everything else (lora_A, modules_to_save weights).
//
// The groups' weight decay is the Trainer's usual rule (none for biases
// and LayerNorm parameters), which is PEFT's split of group B as well.
func (c LoraPlus) Scale(lr float64) func(p *nn.Param) float64 {
	return func(p *nn.Param) float64 {
		switch {
		case strings.Contains(p.Name, "lora_embedding_"):
			if lr == 0 {
				return 0
			}
			return c.LREmbedding / lr
		case strings.Contains(p.Name, "lora_B") || len(p.Value.Shape()) == 1:
			return c.LRRatio
		}
		return 1
	}
}
