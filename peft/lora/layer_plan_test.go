package lora

import (
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// TestLinearPlan checks that a LoRA layer's Forward and Backward allocate
// and compute exactly what its Plan declares.
func TestLinearPlan(t *testing.T) {
	for _, tc := range []struct {
		name             string
		dropout          float64
		training, needDX bool
		trainA, trainB   bool
		dora, bias, bf16 bool
	}{
		{"plain", 0, true, true, true, true, false, false, false},
		{"dropout", 0.3, true, true, true, true, false, false, false},
		{"dropout no dx", 0.3, true, false, true, true, false, false, false},
		{"eval dropout", 0.3, false, true, true, true, false, false, false},
		{"B only, no dx", 0, true, false, false, true, false, false, false},
		{"frozen adapter, dx", 0.1, true, true, false, false, false, false, false},
		{"dora", 0, true, true, true, true, true, false, false},
		{"dora dropout", 0.3, true, true, true, true, true, false, false},
		{"dora dropout no dx", 0.3, true, false, true, true, true, false, false},
		{"dora eval dropout", 0.3, false, true, true, true, true, false, false},
		{"dora B only, no dx", 0, true, false, false, true, true, false, false},
		{"dora trained bias", 0, true, true, true, true, true, true, false},
		{"dora bf16 dropout", 0.2, true, true, true, true, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 9))
			const n, in, out, r = 6, 7, 5, 3
			base := nn.NewLinear("blk.value", in, out, true)
			randFill(rng, base.Weight.Value.F32(), 0.5)
			l := newLinear(base)
			mustAdd(t, l, "default", adapterSpec{r: r, alpha: 8, scale: 8.0 / r, dropout: tc.dropout, init: InitRandom}, rng)
			l.active = "default"
			l.SetTraining(tc.training)
			a, b, _ := l.Factors("default")
			for _, p := range []struct {
				p  *nn.Param
				on bool
			}{{a, tc.trainA}, {b, tc.trainB}} {
				if err := p.p.SetTrainable(p.on); err != nil {
					t.Fatal(err)
				}
			}
			l.SetInputGrad(tc.needDX)
			x := tensor.New(tensor.F32, 2, n/2, in)
			randFill(rng, x.F32(), 1)
			dy := tensor.New(tensor.F32, 2, n/2, out)
			randFill(rng, dy.F32(), 1)
			m0, c0 := memory.Take().Allocated, kernels.ReadCounters()
			l.Forward(x)
			l.Backward(dy)
			ran := kernels.ReadCounters().Sub(c0)
			got, flops := memory.Take().Allocated.Sub(m0), ran.Flops
			want := l.Plan(x.Shape(), true)
			var calls, opFlops int64 // the GEMMs among the ops the step time sums
			for op, k := range want.Ops {
				if op.FLOPs() > 0 {
					calls += k * op.Calls()
					opFlops += k * op.FLOPs()
				}
			}
			if calls != ran.Calls || opFlops != flops {
				t.Errorf("ran %d GEMMs of %d FLOPs, the declared ops hold %d of %d", ran.Calls, flops, calls, opFlops)
			}
			if got != want.Total() {
				t.Errorf("allocated %v, declared %v", got.Map(), want.Total().Map())
			}
			if flops != want.FLOPs() {
				t.Errorf("ran %d FLOPs, declared %d", flops, want.FLOPs())
			}
		})
	}
}
