package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/tensor"
)

// attentionRef is SelfAttention's forward in float64 loops, straight from
// the definition (HF eager_attention_forward), with the dropout mask read
// from kernels.DropoutKeep under key when p > 0.
func attentionRef(s *SelfAttention, x *tensor.Tensor, key uint64, p float32) []float64 {
	B, T, H := x.Dim(0), x.Dim(1), s.hidden()
	proj := func(l Layer) []float64 {
		lin := l.(*Linear)
		return linearRef(x.F32(), lin.Weight.Value.F32(), lin.Bias.Value.F32(), B*T, H, H, false)
	}
	q, k, v := proj(s.Query), proj(s.Key), proj(s.Value)
	d := s.HeadDim
	out := make([]float64, B*T*H)
	for b := 0; b < B; b++ {
		for h := 0; h < s.Heads; h++ {
			for i := 0; i < T; i++ {
				sc := make([]float64, T)
				mx := math.Inf(-1)
				for j := 0; j < T; j++ {
					if s.Causal && j > i {
						sc[j] = math.Inf(-1)
						continue
					}
					for c := 0; c < d; c++ {
						sc[j] += q[(b*T+i)*H+h*d+c] * k[(b*T+j)*H+h*d+c]
					}
					sc[j] /= math.Sqrt(float64(d))
					mx = max(mx, sc[j])
				}
				var sum float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for j := range sc {
					pr := sc[j] / sum
					if p > 0 {
						idx := uint64(((b*s.Heads+h)*T+i)*T + j)
						if kernels.DropoutKeep(key, idx, p) {
							pr /= float64(1 - p)
						} else {
							pr = 0
						}
					}
					for c := 0; c < d; c++ {
						out[(b*T+i)*H+h*d+c] += pr * v[(b*T+j)*H+h*d+c]
					}
				}
			}
		}
	}
	return out
}

func TestSelfAttention(t *testing.T) {
	for _, causal := range []bool{false, true} {
		for _, p := range []float32{0, 0.25} {
			t.Run(fmt.Sprintf("causal=%v,dropout=%v", causal, p), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(8, 9))
				const B, T, H, heads = 2, 5, 9, 3
				s := NewSelfAttention("encoder.layer.0.attention.attention", H, heads, true, p, 3)
				s.Causal = causal
				randomize(t, s, rng, 0.6)
				x := randT(rng, 1, B, T, H)
				fwd := func() *tensor.Tensor { s.Dropout.Step = 3; return s.Forward(x) }
				y := fwd()
				want := attentionRef(s, x, s.Dropout.key, p)
				if d, sc := maxAbsDiff(y.F32(), want); d > 1e-5*sc {
					t.Fatalf("forward differs from the float64 reference by %g (scale %g)", d, sc)
				}
				var dx *tensor.Tensor
				vars := []fdVar{{"x", x.F32(), func() []float32 { return dx.F32() }}}
				keyBias := s.Key.(*Linear).Bias
				for _, prm := range AllParams(s) {
					if prm != keyBias {
						vars = append(vars, paramVar(prm))
					}
				}
				// Step 3e-3: at 1e-2 the O(h²) truncation error of the
				// softmax products approaches the tolerance.
				checkFD(t, fwd, func(dy *tensor.Tensor) { ZeroGrads(s); dx = s.Backward(dy) }, vars, 3e-3, fdTol)
				// The key bias adds q·b to a whole row of scores, which the
				// softmax ignores: its gradient is zero up to rounding, where a
				// relative comparison means nothing.
				kb, _ := maxAbsDiff(keyBias.Grad.F32(), make([]float64, keyBias.Len()))
				qb, _ := maxAbsDiff(s.Query.(*Linear).Bias.Grad.F32(), make([]float64, keyBias.Len()))
				if kb > 1e-5*qb {
					t.Errorf("key bias gradient max %g, want ~0 (query bias gradient max %g)", kb, qb)
				}
			})
		}
	}
}

// TestSelfAttentionFrozenPaths counts the backward's GEMMs when only some
// projections train and no input gradient is wanted.
func TestSelfAttentionFrozenPaths(t *testing.T) {
	const B, T, H, heads = 2, 6, 8, 2
	d := H / heads
	attn := int64(2 * T * T * d) // one per-head product of the backward
	proj := int64(2 * B * T * H * H)
	bh := int64(B * heads)
	for _, tc := range []struct {
		name      string
		trainable []string
		calls     int64
		flops     int64
	}{
		{"none", nil, 0, 0},
		// dV = Pᵀ·dctx per head, then value's dW.
		{"value", []string{"value"}, bh + 1, bh*attn + proj},
		// dV, dP per head; dQ per head; query and value dW.
		{"query+value", []string{"query", "value"}, 3*bh + 2, 3*bh*attn + 2*proj},
		// key also needs dK (dSᵀ·Q).
		{"all", []string{"query", "key", "value"}, 4*bh + 3, 4*bh*attn + 3*proj},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 5))
			s := NewSelfAttention("attn", H, heads, true, 0, 1)
			for _, prm := range AllParams(s) {
				Normal(prm.Value, 0.5, rng)
			}
			for _, n := range tc.trainable {
				m, err := Find(s, "attn."+n)
				if err != nil {
					t.Fatal(err)
				}
				for _, prm := range m.Params() {
					prm.SetTrainable(true)
				}
			}
			s.SetInputGrad(false)
			s.Forward(randT(rng, 1, B, T, H))
			before := kernels.ReadCounters()
			if dx := s.Backward(randT(rng, 1, B, T, H)); dx != nil {
				t.Error("Backward returned dx with input gradients off")
			}
			got := kernels.ReadCounters().Sub(before)
			if got.Calls != tc.calls || got.Flops != tc.flops {
				t.Errorf("backward ran %d GEMMs / %d flops, want %d / %d", got.Calls, got.Flops, tc.calls, tc.flops)
			}
		})
	}
}
