package optim

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/golora/golora/nn"
)

// TestLRScaleIsParameterGroups: an optimizer with a per-parameter LRScale
// ends bit for bit where separate optimizers, one per parameter at the
// scaled rate, end (torch's parameter groups with their own lr), through
// learning-rate changes, for AdamW (with weight decay, which the scaled
// rate scales too) and SGD with momentum; the state dict keys do not
// change.
func TestLRScaleIsParameterGroups(t *testing.T) {
	scale := func(p *nn.Param) float64 {
		if p.Name == "a.bias" {
			return 16
		}
		if p.Name == "b.weight" {
			return 0.25
		}
		return 1
	}
	makers := map[string]func(ps []*nn.Param, lrMul float64, withScale bool) (Optimizer, error){
		"adamw": func(ps []*nn.Param, lrMul float64, withScale bool) (Optimizer, error) {
			c := DefaultAdamW()
			c.LR *= lrMul
			c.WeightDecay = 0.1
			if withScale {
				c.LRScale = scale
			}
			return NewAdamW(ps, c)
		},
		"sgd": func(ps []*nn.Param, lrMul float64, withScale bool) (Optimizer, error) {
			c := SGDConfig{LR: 0.05 * lrMul, Momentum: 0.9, WeightDecay: 1e-3}
			if withScale {
				c.LRScale = scale
			}
			return NewSGD(ps, c)
		},
	}
	for name, mk := range makers {
		t.Run(name, func(t *testing.T) {
			grouped := testParams(71, 1)
			separate := testParams(71, 1)
			g, err := mk(grouped, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			var singles []Optimizer
			for _, p := range separate {
				o, err := mk([]*nn.Param{p}, scale(p), false)
				if err != nil {
					t.Fatal(err)
				}
				singles = append(singles, o)
			}
			base := map[string]float64{"adamw": 1e-3, "sgd": 0.05}[name]
			rng := rand.New(rand.NewPCG(72, 1))
			for step, mul := range []float64{1, 0.5, 2, 0.1} {
				newGrads(rng, grouped)
				for i, p := range grouped {
					if p.Grad != nil {
						copy(separate[i].Grad.F32(), p.Grad.F32())
					}
				}
				g.SetLR(base * mul)
				g.Step()
				for i, o := range singles {
					o.SetLR(base * mul * scale(separate[i]))
					o.Step()
				}
				for i, p := range grouped {
					for j, v := range p.Value.F32() {
						if w := separate[i].Value.F32()[j]; v != w {
							t.Fatalf("step %d: %s[%d] = %v with LRScale, %v with its own optimizer", step, p.Name, j, v, w)
						}
					}
				}
			}
			var keys []string
			for k := range g.StateDict() {
				keys = append(keys, k)
			}
			var want []string
			for _, o := range singles {
				for k := range o.StateDict() {
					want = append(want, k)
				}
			}
			sort.Strings(keys)
			sort.Strings(want)
			if fmt.Sprint(keys) != fmt.Sprint(want) {
				t.Errorf("state keys %v, want %v", keys, want)
			}
		})
	}
}
