package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/nn"
)

// TestParallelEstimateMatchesMeasurement runs data-parallel steps on an
// in-process group and checks, exactly, every rank's bytes per category
// (summed over the ranks, which share the process's accounting) and every
// rank's traffic against EstimateRank, for full fine-tuning and LoRA at
// every ZeRO stage, and AdaLoRA at stage 0 (its hooks need the whole
// gradient: the other stages are refused).
func TestParallelEstimateMatchesMeasurement(t *testing.T) {
	const batch = 2
	ms := methods(t, small())
	for _, method := range []string{"full", "lora", "adalora"} {
		for _, world := range []int{2, 3} {
			for stage := 0; stage <= 2; stage++ {
				t.Run(fmt.Sprintf("%s/world %d/stage %d", method, world, stage), func(t *testing.T) {
					s := ms[method]
					s.Parallel = Parallel{WorldSize: world, ZeroStage: stage, GradientAccumulationSteps: 1}
					if method == "adalora" && stage > 0 {
						if _, err := Build(s, true, 7); err == nil || !strings.Contains(err.Error(), "use ZeRO stage 0") {
							t.Errorf("AdaLoRA at ZeRO stage %d: error %v", stage, err)
						}
						return
					}
					models := make([]*Model, world)
					for r := range models {
						m, err := Build(s, true, 7)
						if err != nil {
							t.Fatal(err)
						}
						models[r] = m
					}
					// The per-parameter gradients Build made are replaced by
					// the data-parallel buffers: count from here.
					a0 := memory.Take().Allocated
					traffic := make([]collective.ByOp, world)
					var second memory.Bytes
					err := collective.Run(world, func(c collective.Comm) error {
						k := collective.Count(c)
						r, err := NewRunnerOn(k, models[c.Rank()], batch, 1)
						if err != nil {
							return err
						}
						defer r.Close()
						if _, err := r.Step(); err != nil {
							return err
						}
						traffic[c.Rank()] = k.Traffic()
						if err := c.Barrier(); err != nil {
							return err
						}
						a1 := memory.Take().Allocated
						if err := c.Barrier(); err != nil {
							return err
						}
						_, err = r.Step()
						if c.Rank() == 0 {
							if err := c.Barrier(); err != nil {
								return err
							}
							second = memory.Take().Allocated.Sub(a1)
							return err
						}
						if err != nil {
							return err
						}
						return c.Barrier()
					})
					if err != nil {
						t.Fatal(err)
					}
					var want, got memory.Bytes
					for r, m := range models {
						e := m.EstimateRank(batch, r)
						want = want.Add(e.Bytes)
						if traffic[r] != e.Comm {
							t.Errorf("rank %d: traffic %+v, planned %+v", r, traffic[r], e.Comm)
						}
						w := nn.AccountWeights(m.Root())
						for _, c := range memory.WeightCategories {
							got[c] = w[c] * int64(world)
						}
					}
					d := memory.Take().Allocated.Sub(a0)
					for c := memory.Gradients; c < memory.NumCategories; c++ {
						got[c] = d[c]
					}
					for c := memory.Category(0); c < memory.NumCategories; c++ {
						if got[c] != want[c] {
							t.Errorf("%v: measured %d bytes over %d ranks, planned %d", c, got[c], world, want[c])
						}
					}
					if second.Total() != 0 {
						t.Errorf("second step allocated %v", second.Map())
					}
					e0 := models[0].Estimate(batch)
					t.Logf("rank 0: gradients %d optimizer %d bytes; sends %d bytes a step", e0.Bytes[memory.Gradients], e0.Bytes[memory.Optimizer], e0.Comm.Total().Sent)
				})
			}
		}
	}
}

// TestParallelRelations checks what the stages are for, on the planned
// numbers of vit-small-64 at 4 ranks: ZeRO-1 divides the optimizer state,
// ZeRO-2 the gradients too (but for one block's buffer), the traffic of a
// step stays about twice the gradient, and LoRA sends far fewer bytes.
func TestParallelRelations(t *testing.T) {
	sent := map[string]int64{}
	for _, method := range []string{"full", "lora"} {
		var es [3]Estimate
		for stage := range es {
			s := methods(t, vit.Preset(64, 8, 6))[method] // vit-small-64
			s.Parallel = Parallel{WorldSize: 4, ZeroStage: stage, GradientAccumulationSteps: 1}
			var err error
			if es[stage], err = Predict(s, 4); err != nil {
				t.Fatal(err)
			}
		}
		g, o := es[0].Bytes[memory.Gradients], es[0].Bytes[memory.Optimizer]
		if got := es[1].Bytes[memory.Optimizer]; got > o/4+64 || got < o/4-64 {
			t.Errorf("%s: ZeRO-1 optimizer %d bytes, want about %d/4", method, got, o)
		}
		t.Logf("%s: gradients %d, %d, %d bytes and optimizer %d, %d, %d at stages 0, 1, 2; sends %d bytes a step", method,
			g, es[1].Bytes[memory.Gradients], es[2].Bytes[memory.Gradients], o, es[1].Bytes[memory.Optimizer], es[2].Bytes[memory.Optimizer], es[0].Comm.Total().Sent)
		if es[1].Bytes[memory.Gradients] != g || es[2].Bytes[memory.Gradients] >= g/2 {
			t.Errorf("%s: gradients %d, %d, %d bytes at stages 0, 1, 2", method, g, es[1].Bytes[memory.Gradients], es[2].Bytes[memory.Gradients])
		}
		for stage, e := range es {
			sent[method] = e.Comm.Total().Sent
			if want := 2 * 3 * g / 4; sent[method] < want || sent[method] > want+256 {
				t.Errorf("%s stage %d: sends %d bytes, want about 2·(3/4)·%d", method, stage, sent[method], g)
			}
		}
	}
	if sent["lora"]*10 > sent["full"] {
		t.Errorf("LoRA sends %d bytes a step, full fine-tuning %d", sent["lora"], sent["full"])
	}
}
