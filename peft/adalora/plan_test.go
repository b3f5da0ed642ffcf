package adalora

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/lora"
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

// TestHookBytes checks that the hooks allocate exactly what HookBytes
// declares (the allocator's state as optimizer bytes, the Gram matrix as
// workspace) during the first step, nothing more while the allocator
// masks, and that the allocator's state is dropped at total_step − tfinal.
func TestHookBytes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TargetModules = lora.TargetList("query", "value")
	cfg.InitR, cfg.TargetR, cfg.TotalStep, cfg.Tinit, cfg.Tfinal = 5, 2, 4, 0, 1
	m, err := Inject(loadBase(t), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	want := m.HookBytes()
	var factors int64
	for _, l := range m.Layers() {
		factors += int64(l.A.Len() + l.E.Len() + l.B.Len())
	}
	if want[memory.Optimizer] != 12*factors || want[memory.Workspace] != 8*5*5 || want.Total() != want[memory.Optimizer]+want[memory.Workspace] {
		t.Fatalf("HookBytes %v for %d factor values of rank 5", want.Map(), factors)
	}
	for step := 0; step < cfg.TotalStep; step++ {
		for _, p := range nn.TrainableParams(m.Base) {
			for i := range p.Grad.F32() {
				p.Grad.F32()[i] = float32(rng.NormFloat64())
			}
		}
		a0 := memory.Take().Allocated
		if _, err := m.AfterBackward(step); err != nil {
			t.Fatal(err)
		}
		if err := m.AfterStep(step); err != nil {
			t.Fatal(err)
		}
		got := memory.Take().Allocated.Sub(a0)
		if step > 0 {
			want = memory.Bytes{}
		}
		if got != want {
			t.Errorf("step %d: the hooks allocated %v, want %v", step, got.Map(), want.Map())
		}
		n := 0
		for k := range m.HookState() {
			if strings.HasPrefix(k, "exp_avg_ipt.") {
				n++
			}
		}
		if kept := step < cfg.TotalStep-cfg.Tfinal; kept != (n == 3*len(m.Layers())) || !kept && n != 0 {
			t.Errorf("step %d: sensitivities of %d factors", step, n)
		}
	}
	if m.KeptRanks()[0] == 5 && m.KeptRanks()[1] == 5 {
		t.Errorf("nothing masked: %v", m.KeptRanks())
	}
}
