package zero

import (
	"fmt"
	"sort"
	"strings"

	"github.com/golora/golora/optim"
	"github.com/golora/golora/tensor"
)

// segRef places one of an Engine's optimizer views: values [lo, hi) of
// parameter param of unit unit.
type segRef struct{ unit, param, lo, hi int }

// GatherState returns the optimizer state of every trainable parameter in
// the one-process format (the state dict of the optimizer over the whole
// parameters, with their shapes), so that a checkpoint resumes at any
// world size. It is collective: every rank calls it; the result is
// complete on rank 0 (others get nil at stages 1 and 2). The gradient
// buffers serve as staging: call it after Step, not within a step.
func (e *Engine) GatherState() (map[string]*tensor.Tensor, error) {
	if e.world == 1 || e.stage == 0 {
		return e.opt.StateDict(), nil
	}
	perValue, scalars := e.opt.(optim.StateLayout).StateKeys()
	local := e.opt.StateDict()
	var out map[string]*tensor.Tensor
	if e.rank == 0 {
		out = map[string]*tensor.Tensor{}
	}
	for _, k := range perValue {
		for ui := range e.layout.Units {
			u := &e.layout.Units[ui]
			buf := e.staging(u)
			for si, ref := range e.refs {
				if ref.unit != ui {
					continue
				}
				t := local[e.segs[si].Name+"."+k]
				if t == nil || t.Len() != ref.hi-ref.lo {
					return nil, fmt.Errorf("zero: the optimizer has no %s state of %d values for %s", k, ref.hi-ref.lo, e.segs[si].Name)
				}
				copy(buf[u.Start[ref.param]+ref.lo:], t.F32())
			}
			if err := e.comm.AllGather(buf, u.Counts); err != nil {
				return nil, err
			}
			if out == nil {
				continue
			}
			for i, p := range u.Params {
				t := tensor.New(tensor.F32, p.Value.Shape()...)
				copy(t.F32(), buf[u.Start[i]:])
				out[p.Name+"."+k] = t
			}
		}
	}
	if len(scalars) > 0 {
		// Each parameter's scalars come from the rank holding its first
		// value.
		vals := make([]float64, len(e.params)*len(scalars))
		idx := map[string]int{}
		for i, p := range e.params {
			idx[p.Name] = i
		}
		for si, ref := range e.refs {
			if ref.lo != 0 {
				continue
			}
			name := e.segs[si].Name
			for j, k := range scalars {
				t := local[name+"."+k]
				if t == nil || t.Len() != 1 {
					return nil, fmt.Errorf("zero: the optimizer has no scalar %s state for %s", k, name)
				}
				vals[idx[name]*len(scalars)+j] = float64(t.F32()[0])
			}
		}
		if err := e.comm.AllReduceSum64(vals); err != nil {
			return nil, err
		}
		if out != nil {
			for i, p := range e.params {
				for j, k := range scalars {
					out[p.Name+"."+k] = tensor.FromF32([]float32{float32(vals[i*len(scalars)+j])}, 1)
				}
			}
		}
	}
	return out, nil
}

// LoadState replaces the optimizer state by sd, in the one-process format
// GatherState returns (from a checkpoint of any world size): each rank
// takes its shares. Nothing changes when sd does not fit the parameters.
func (e *Engine) LoadState(sd map[string]*tensor.Tensor) error {
	if e.world == 1 || e.stage == 0 {
		return e.opt.LoadStateDict(sd)
	}
	perValue, scalars := e.opt.(optim.StateLayout).StateKeys()
	want := map[string]int{}
	for _, p := range e.params {
		for _, k := range perValue {
			want[p.Name+"."+k] = p.Len()
		}
		for _, k := range scalars {
			want[p.Name+"."+k] = 1
		}
	}
	var errs []string
	for k, n := range want {
		t := sd[k]
		switch {
		case t == nil:
			errs = append(errs, fmt.Sprintf("missing %q", k))
		case t.DType() != tensor.F32 || t.Len() != n:
			errs = append(errs, fmt.Sprintf("%q is %v %v, want %d f32 values", k, t.DType(), t.Shape(), n))
		}
	}
	for k := range sd {
		if _, ok := want[k]; !ok {
			errs = append(errs, fmt.Sprintf("unexpected %q", k))
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		if len(errs) > 5 {
			errs = append(errs[:5], fmt.Sprintf("and %d more", len(errs)-5))
		}
		return fmt.Errorf("zero: optimizer state does not fit the parameters: %s", strings.Join(errs, "; "))
	}
	seg := map[string]*tensor.Tensor{}
	for si, ref := range e.refs {
		name := e.segs[si].Name
		for _, k := range perValue {
			v := sd[name+"."+k].F32()[ref.lo:ref.hi]
			seg[name+"."+k] = tensor.FromF32(v, len(v))
		}
		for _, k := range scalars {
			seg[name+"."+k] = sd[name+"."+k]
		}
	}
	return e.opt.LoadStateDict(seg)
}
