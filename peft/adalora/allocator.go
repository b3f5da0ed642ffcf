package adalora

import (
	"fmt"
	"math"
	"sort"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
)

// RankAllocator is PEFT's RankAllocator: per element of every lora_A,
// lora_E and lora_B it keeps the sensitivity I = |p·∂L/∂p|, its EMA
// Ī ← β₁Ī + (1−β₁)I and the uncertainty Ū ← β₂Ū + (1−β₂)|I − Ī|; the
// score of singular triplet i of a layer is
//
//	S_i = Ī_E[i]·Ū_E[i] + mean_j Ī_A[i,j]·Ū_A[i,j] + mean_j Ī_B[j,i]·Ū_B[j,i]
//
// and masking zeroes E[i] for every triplet whose score is at most the
// k-th smallest over all layers, k = (Σ init ranks) − budget.
type RankAllocator struct {
	m     *Model
	state map[*nn.Param]*ipt // per factor: I, Ī, Ū (all the factor's shape)
	// InitBudget is Σ rank over the layers (init_bgt); TargetBudget is
	// target_r × layers (target_bgt).
	InitBudget, TargetBudget int
}

type ipt struct{ cur, avg, unc []float32 }

// newIPT is the zero state of a factor of n values: one buffer counted as
// optimizer state (like AdamW's moments, it is per-value gradient
// statistics kept across steps; see Model.HookBytes).
func newIPT(n int) *ipt {
	b := memory.Alloc(memory.Optimizer, 3*n)
	return &ipt{cur: b[:n:n], avg: b[n : 2*n : 2*n], unc: b[2*n:]}
}

func newRankAllocator(m *Model) *RankAllocator {
	a := &RankAllocator{m: m, state: map[*nn.Param]*ipt{}}
	for _, l := range m.layers {
		a.InitBudget += l.r
	}
	a.TargetBudget = m.cfg.TargetR * len(m.layers)
	return a
}

// Reset forgets the sensitivities (PEFT's reset_ipt).
func (a *RankAllocator) Reset() { a.state = map[*nn.Param]*ipt{} }

// Budget is PEFT's budget_schedule: the total rank allowed after step and
// whether this step masks. Steps up to tinit keep the initial budget;
// after total_step − tfinal the target budget holds; in between the budget
// falls as a cubic, truncated to an integer, and every deltaT-th step
// masks.
func (a *RankAllocator) Budget(step int) (budget int, mask bool) {
	c := &a.m.cfg
	switch {
	case step <= c.Tinit:
		return a.InitBudget, false
	case step > c.TotalStep-c.Tfinal:
		return a.TargetBudget, true
	}
	mul := 1 - float64(step-c.Tinit)/float64(c.TotalStep-c.Tfinal-c.Tinit)
	b := float64(a.InitBudget-a.TargetBudget)*math.Pow(mul, 3) + float64(a.TargetBudget)
	return int(b), step%c.DeltaT == 0
}

// UpdateIPT folds the current gradients into the sensitivity EMAs of every
// trainable factor (PEFT's update_ipt; call it after the optimizer step,
// before the gradients are zeroed).
func (a *RankAllocator) UpdateIPT() {
	// torch multiplies f32 tensors by the Python floats β and 1 − β.
	b1, b2 := float32(a.m.cfg.Beta1), float32(a.m.cfg.Beta2)
	c1, c2 := float32(1-a.m.cfg.Beta1), float32(1-a.m.cfg.Beta2)
	for _, l := range a.m.layers {
		for _, p := range l.Params() {
			if p.Grad == nil || p.Len() == 0 {
				continue
			}
			s := a.state[p]
			if s == nil {
				s = newIPT(p.Len())
				a.state[p] = s
			}
			v, g := p.Value.F32(), p.Grad.F32()
			for i := range v {
				cur := float32(math.Abs(float64(v[i] * g[i])))
				s.cur[i] = cur
				s.avg[i] = b1*s.avg[i] + c1*cur
				s.unc[i] = b2*s.unc[i] + c2*float32(math.Abs(float64(cur-s.avg[i])))
			}
		}
	}
}

// Scores returns every layer's triplet scores S_i, in forward order (zeros
// for a factor with no sensitivity yet).
func (a *RankAllocator) Scores() [][]float32 {
	out := make([][]float32, len(a.m.layers))
	for li, l := range a.m.layers {
		r, in, outF := l.r, l.Base.In, l.Base.Out
		sc := make([]float32, r)
		score := func(p *nn.Param, i int) float32 {
			s := a.state[p]
			if s == nil {
				return 0
			}
			return s.avg[i] * s.unc[i]
		}
		for i := 0; i < r; i++ {
			var sa, sb float32
			for j := 0; j < in; j++ {
				sa += score(l.A, i*in+j)
			}
			for j := 0; j < outF; j++ {
				sb += score(l.B, j*r+i)
			}
			// PEFT: E's score + (mean over A's row + mean over B's column).
			sc[i] = score(l.E, i) + (sa/float32(in) + sb/float32(outF))
		}
		out[li] = sc
	}
	return out
}

// MaskToBudget zeroes E[i] of every triplet scoring at most the k-th
// smallest score (k = InitBudget − budget) and returns the resulting rank
// pattern (PEFT's mask_to_budget). k <= 0 masks nothing.
func (a *RankAllocator) MaskToBudget(budget int) map[string][]bool {
	scores := a.Scores()
	var all []float32
	for _, s := range scores {
		all = append(all, s...)
	}
	k := a.InitBudget - budget
	thr := float32(math.Inf(-1))
	if k > 0 && len(all) > 0 {
		if k > len(all) {
			k = len(all)
		}
		sorted := append([]float32(nil), all...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		thr = sorted[k-1]
	}
	rp := map[string][]bool{}
	for li, l := range a.m.layers {
		mask := make([]bool, l.r)
		e := l.E.Value.F32()
		for i, s := range scores[li] {
			mask[i] = !(s <= thr)
			if !mask[i] {
				e[i] = 0
			}
		}
		rp[patternKey(l)] = mask
	}
	return rp
}

// UpdateAndAllocate is PEFT's AdaLoraModel.update_and_allocate(global_step),
// global_step counting optimizer steps from 0: before total_step − tfinal it
// updates the sensitivities and masks on the budget schedule; at exactly
// total_step − tfinal it masks to the target budget for good and forgets
// the sensitivities; after that it re-applies the final mask every step.
// The allocation is kept in the config's RankPattern.
func (m *Model) UpdateAndAllocate(step int) {
	c := &m.cfg
	a := m.alloc
	end := c.TotalStep - c.Tfinal
	switch {
	case step < end:
		a.UpdateIPT()
		if b, mask := a.Budget(step); mask {
			c.RankPattern = a.MaskToBudget(b)
		}
	case step == end:
		b, _ := a.Budget(step)
		c.RankPattern = a.MaskToBudget(b)
		a.Reset()
	default:
		if c.RankPattern != nil {
			_ = m.applyPattern(c.RankPattern)
		}
	}
}

// applyPattern zeroes E wherever rp masks (PEFT's mask_using_rank_pattern).
func (m *Model) applyPattern(rp map[string][]bool) error {
	for _, l := range m.layers {
		mask, ok := rp[patternKey(l)]
		if !ok {
			return fmt.Errorf("adalora: rank_pattern has no entry for %s", patternKey(l))
		}
		if len(mask) != l.r {
			return fmt.Errorf("adalora: rank_pattern[%q] has %d entries, the layer has rank %d", patternKey(l), len(mask), l.r)
		}
		e := l.E.Value.F32()
		for i, keep := range mask {
			if !keep {
				e[i] = 0
			}
		}
	}
	return nil
}
