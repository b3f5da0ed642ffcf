package nn

import (
	"math/rand/v2"

	"github.com/golora/golora/tensor"
)

// TruncNormal fills t (f32) with draws from N(0, std²) truncated to
// [-2, 2], as torch.nn.init.trunc_normal_(std=std) with its default absolute
// bounds (Hugging Face's initialiser for ViT weights). Rejection sampling:
// for the usual std ≪ 1 nothing is ever rejected.
func TruncNormal(t *tensor.Tensor, std float64, rng *rand.Rand) {
	x := t.F32()
	for i := range x {
		for {
			v := rng.NormFloat64() * std
			if v >= -2 && v <= 2 {
				x[i] = float32(v)
				break
			}
		}
	}
}

// Normal fills t (f32) with draws from N(0, std²).
func Normal(t *tensor.Tensor, std float64, rng *rand.Rand) {
	x := t.F32()
	for i := range x {
		x[i] = float32(rng.NormFloat64() * std)
	}
}

// Fill sets every value of t (f32) to v.
func Fill(t *tensor.Tensor, v float32) {
	x := t.F32()
	for i := range x {
		x[i] = v
	}
}
