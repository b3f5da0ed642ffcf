package adalora

import (
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// TestLinearPlan checks that an AdaLoRA layer's Forward and Backward
// allocate exactly what its Plan declares and run exactly the GEMMs among
// its declared ops (the planner's step time sums them).
func TestLinearPlan(t *testing.T) {
	for _, tc := range []struct {
		name           string
		dropout        float64
		needDX, trainA bool
	}{
		{"plain", 0, true, true},
		{"dropout", 0.3, true, true},
		{"dropout no dx", 0.3, false, true},
		{"frozen factors, dx", 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 9))
			const n, in, out, r = 6, 7, 5, 3
			base := nn.NewLinear("blk.value", in, out, true)
			l := newLinear(base, r, 2, tc.dropout)
			for _, p := range l.Params() {
				for i := range p.Value.F32() {
					p.Value.F32()[i] = float32(rng.NormFloat64())
				}
				if err := p.SetTrainable(tc.trainA); err != nil {
					t.Fatal(err)
				}
			}
			l.SetInputGrad(tc.needDX)
			x, dy := tensor.New(tensor.F32, 2, n/2, in), tensor.New(tensor.F32, 2, n/2, out)
			for _, v := range [][]float32{x.F32(), dy.F32()} {
				for i := range v {
					v[i] = float32(rng.NormFloat64())
				}
			}
			m0, c0 := memory.Take().Allocated, kernels.ReadCounters()
			l.Forward(x)
			l.Backward(dy)
			ran := kernels.ReadCounters().Sub(c0)
			got := memory.Take().Allocated.Sub(m0)
			want := l.Plan(x.Shape(), true)
			if got != want.Total() {
				t.Errorf("allocated %v, declared %v", got.Map(), want.Total().Map())
			}
			var calls, flops int64
			for op, k := range want.Ops {
				if op.FLOPs() > 0 {
					calls += k * op.Calls()
					flops += k * op.FLOPs()
				}
			}
			if calls != ran.Calls || flops != ran.Flops || flops != want.FLOPs() {
				t.Errorf("ran %d GEMMs of %d FLOPs (declared %d), the declared ops hold %d of %d", ran.Calls, ran.Flops, want.FLOPs(), calls, flops)
			}
		})
	}
}
