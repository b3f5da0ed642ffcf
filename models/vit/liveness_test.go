package vit

import (
	"testing"

	"github.com/golora/golora/memory"
)

// TestKeptActivations: a block keeps for its backward exactly what the
// backward reads (nn's liveness), counted from the plan in units of the
// block's [B, T, H] buffer h, its MLP buffer [B, T, I] and its attention
// probabilities [B, heads, T, T], beside the LayerNorm statistics:
//
//   - frozen, no gradient below (a block under every trainable one):
//     only its output y, which the next block reads;
//   - frozen, passing a gradient down (a block above LoRA): y, r (for
//     layernorm_after), Q, K, V, the probabilities and the GELU's input;
//   - query and value training (LoRA's targets): the same, since their dW
//     reads layernorm_before's output, which is restored rather than kept;
//     in the lowest such block (no gradient below) not Q, since no dK is
//     computed;
//   - everything training: also the context (attention.output's dW); the
//     GELU's and the LayerNorms' outputs are restored.
func TestKeptActivations(t *testing.T) {
	const B = 3
	for _, tc := range []struct {
		name      string
		train     []string
		below     bool // a gradient goes below the block
		h, i, prb int64
	}{
		{"frozen", nil, false, 1, 0, 0},
		{"frozen, gradient below", nil, true, 5, 1, 1},
		{"query and value", []string{"attention.attention.query", "attention.attention.value"}, true, 5, 1, 1},
		{"query and value, lowest", []string{"attention.attention.query", "attention.attention.value"}, false, 4, 1, 1},
		{"everything", []string{""}, true, 6, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadTiny(t, LoadOptions{})
			l := m.Layers[1]
			for _, n := range tc.train {
				if n == "" {
					setTrainable(t, m, l.name)
				} else {
					setTrainable(t, m, l.name+"."+n)
				}
			}
			l.SetInputGrad(tc.below)
			c := &m.Config
			T, H, I, nh := int64(c.Tokens()), int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.NumAttentionHeads)
			stats := 2 * 2 * B * T // mean and rstd of two LayerNorms
			want := 4 * (tc.h*B*T*H + tc.i*B*T*I + tc.prb*B*nh*T*T + stats)
			if got := l.Plan([]int{B, int(T), int(H)}, true).Total()[memory.Activations]; got != want {
				t.Errorf("kept %d bytes of activations, want %d", got, want)
			}
		})
	}
}
