package adalora

import (
	"fmt"
	"sort"
	"strings"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// The training-loop calls of PEFT's AdaLoRA, as train.StepHooks (and
// train.StatefulHooks): set a Trainer's Hooks to the Model.

// AfterBackward adds the orthogonal regulariser's gradient to lora_A and
// lora_B and returns its value, which the Trainer adds to the step's loss
// (PEFT's AdaLoraModel.forward adds it to outputs.loss). It runs once per
// optimizer step, before gradient clipping.
func (m *Model) AfterBackward(step int) (float64, error) { return m.Regularize(), nil }

// AfterStep is update_and_allocate(global_step) after the optimizer update
// of step (counted from 0, as PEFT's training loop counts global_step).
func (m *Model) AfterStep(step int) error {
	m.UpdateAndAllocate(step)
	return nil
}

// HookBytes is what the hooks hold at most while training, by memory
// category, for the planner (package plan): the rank allocator's I, Ī and
// Ū, three f32 per trainable factor value, counted as optimizer state
// (like AdamW's moments, per-value gradient statistics kept across steps;
// made at the first AfterStep, dropped at total_step − tfinal), and the
// regulariser's Gram matrix, maxRank² f64 of workspace (made at the first
// AfterBackward, kept). Masking zeroes singular values but resizes
// nothing, so neither changes while training.
func (m *Model) HookBytes() memory.Bytes {
	var b memory.Bytes
	for _, l := range m.layers {
		for _, p := range l.Params() {
			if p.Grad != nil && p.Len() > 0 { // what UpdateIPT tracks
				b[memory.Optimizer] += 3 * 4 * int64(p.Len())
			}
		}
	}
	k := int64(m.maxRank())
	b[memory.Workspace] = 8 * k * k
	return b
}

// HookState returns what a resumed run needs besides the parameters and
// the optimizer: the allocator's sensitivity averages
// ("exp_avg_ipt.<param>", "exp_avg_unc.<param>", PEFT's names, present once
// UpdateIPT has seen the parameter) and the current rank pattern
// ("rank_pattern.<module>.lora_E", 1 = kept; absent while there is none).
// The tensors share storage with the live state.
func (m *Model) HookState() map[string]*tensor.Tensor {
	sd := map[string]*tensor.Tensor{}
	for _, l := range m.layers {
		for _, p := range l.Params() {
			s := m.alloc.state[p]
			if s == nil {
				continue
			}
			sd["exp_avg_ipt."+p.Name] = tensor.FromF32(s.avg, p.Value.Shape()...)
			sd["exp_avg_unc."+p.Name] = tensor.FromF32(s.unc, p.Value.Shape()...)
		}
		if mask, ok := m.cfg.RankPattern[patternKey(l)]; ok {
			v := make([]float32, len(mask))
			for i, keep := range mask {
				if keep {
					v[i] = 1
				}
			}
			sd["rank_pattern."+patternKey(l)] = tensor.FromF32(v, len(v))
		}
	}
	return sd
}

// LoadHookState replaces the allocator's averages and the rank pattern
// with sd's (a HookState of the same model). Nothing changes when it
// returns an error.
func (m *Model) LoadHookState(sd map[string]*tensor.Tensor) error {
	params := map[string]*nn.Param{}
	layers := map[string]*Linear{}
	for _, l := range m.layers {
		for _, p := range l.Params() {
			params[p.Name] = p
		}
		layers[patternKey(l)] = l
	}
	state := map[*nn.Param]*ipt{}
	var rp map[string][]bool
	keys := make([]string, 0, len(sd))
	for k := range sd {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t := sd[k]
		if t.DType() != tensor.F32 {
			return fmt.Errorf("adalora: hook state %q is %v, want F32", k, t.DType())
		}
		kind, name, _ := strings.Cut(k, ".")
		switch kind {
		case "exp_avg_ipt", "exp_avg_unc":
			p, ok := params[name]
			if !ok {
				return fmt.Errorf("adalora: hook state %q names no AdaLoRA parameter", k)
			}
			if !tensor.SameShape(t.Shape(), p.Value.Shape()) {
				return fmt.Errorf("adalora: hook state %q has shape %v, the parameter %v", k, t.Shape(), p.Value.Shape())
			}
			s := state[p]
			if s == nil {
				s = newIPT(p.Len())
				state[p] = s
			}
			dst := s.avg
			if kind == "exp_avg_unc" {
				dst = s.unc
			}
			copy(dst, t.F32())
		case "rank_pattern":
			l, ok := layers[name]
			if !ok {
				return fmt.Errorf("adalora: hook state %q names no AdaLoRA layer", k)
			}
			if t.Len() != l.r {
				return fmt.Errorf("adalora: hook state %q has %d entries, the layer has rank %d", k, t.Len(), l.r)
			}
			if rp == nil {
				rp = map[string][]bool{}
			}
			mask := make([]bool, l.r)
			for i, v := range t.F32() {
				mask[i] = v != 0
			}
			rp[name] = mask
		default:
			return fmt.Errorf("adalora: unexpected hook state %q", k)
		}
	}
	for p, s := range state {
		if len(s.avg) == 0 || sd["exp_avg_ipt."+p.Name] == nil || sd["exp_avg_unc."+p.Name] == nil {
			return fmt.Errorf("adalora: hook state for %s is incomplete", p.Name)
		}
	}
	m.alloc.state = state
	m.cfg.RankPattern = rp
	return nil
}
