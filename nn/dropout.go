package nn

import (
	"fmt"
	"hash/fnv"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// Dropout is inverted dropout (torch.nn.Dropout) with masks drawn from the
// kernels' counter-based hash: the mask of a forward is a function of
// (Seed, Step), so Backward regenerates it instead of storing it. Step
// counts training forwards; set it to replay a mask (tests, resume).
//
// In evaluation mode, or with P == 0, Forward returns its input and Backward
// its incoming gradient: no copy and no work.
type Dropout struct {
	name string
	P    float32
	Seed uint64
	Step uint64
	// Shard is the part of the global batch this process runs (see
	// SetBatchShard).
	Shard uint64

	training  bool
	needDX    bool
	transient bool   // no Backward reads the output (KeepOutput(false))
	masked    bool   // the last Forward applied a mask
	key       uint64 // its mask key
	y, dx     *tensor.Tensor
	yt        *tensor.Tensor // the output when transient
}

// NewDropout returns a Dropout in training mode. Its seed mixes seed with a
// hash of name, so the dropout layers of one model draw different masks.
func NewDropout(name string, p float32, seed uint64) *Dropout {
	if p < 0 || p >= 1 {
		panic(fmt.Sprintf("nn: %s: dropout probability %v outside [0, 1)", name, p))
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return &Dropout{name: name, P: p, Seed: seed ^ h.Sum64(), training: true, needDX: true}
}

// Name implements Module.
func (d *Dropout) Name() string { return d.name }

// Params implements Module.
func (d *Dropout) Params() []*Param { return nil }

// Children implements Module.
func (d *Dropout) Children() []Module { return nil }

// SetTraining implements Trainable.
func (d *Dropout) SetTraining(on bool) { d.training = on }

// SetInputGrad implements Layer.
func (d *Dropout) SetInputGrad(need bool) { d.needDX = need }

// SetStep implements Stepper: the trainer sets the global step before each
// forward, so masks do not depend on how many forwards ran before (resume).
func (d *Dropout) SetStep(step uint64) { d.Step = step }

// SetBatchShard implements BatchSharder.
func (d *Dropout) SetBatchShard(index int) { d.Shard = uint64(index) }

// Offset is the mask counter offset of a tensor of n values (ShardOffset).
func (d *Dropout) Offset(n int) uint64 { return ShardOffset(d.Shard, n) }

// KeepOutput implements OutputKeeper.
func (d *Dropout) KeepOutput(keep bool) { d.transient = !keep }

// NeedsInput implements InputReader: the mask is regenerated, so only an
// inactive dropout, whose output is its input, needs the input kept, when
// its output is.
func (d *Dropout) NeedsInput() bool { return !d.Active() && !d.transient }

// Active reports whether a Forward now would apply a mask.
func (d *Dropout) Active() bool { return d.training && d.P > 0 }

// next advances the step counter and returns the mask key of this forward.
func (d *Dropout) next() uint64 {
	d.key = splitmix(d.Seed + d.Step*0x9e3779b97f4a7c15)
	d.Step++
	return d.key
}

// Forward implements Layer.
func (d *Dropout) Forward(x *tensor.Tensor) *tensor.Tensor {
	d.masked = d.Active()
	if !d.masked {
		return x
	}
	y := OutputBuffer(&d.y, &d.yt, d.transient, x.Shape()...)
	kernels.DropoutForward(y.F32(), x.F32(), d.P, d.next(), d.Offset(x.Len()))
	return y
}

// Backward implements Layer.
func (d *Dropout) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if !d.needDX {
		return nil
	}
	if !d.masked {
		return dy
	}
	d.dx = ReuseAs(memory.Workspace, d.dx, dy.Shape()...)
	// Masking is linear and diagonal: the backward is the forward mask
	// applied to dy (the same key regenerates the same mask).
	kernels.DropoutForward(d.dx.F32(), dy.F32(), d.P, d.key, d.Offset(dy.Len()))
	return d.dx
}

// splitmix is the splitmix64 finaliser, used to turn (seed, step) into
// well-separated mask keys.
func splitmix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Buffers implements Buffered.
func (d *Dropout) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&d.y}, []**tensor.Tensor{&d.dx, &d.yt}
}

// Plan implements Planner: an inactive dropout passes its input through and
// owns nothing; an active one writes y (an activation when kept) and dx
// (workspace).
func (d *Dropout) Plan(in []int, backward bool) Cost {
	var c Cost
	if !d.Active() {
		return c
	}
	n := tensor.NumElems(in)
	c.Output(d.name, !d.transient, n)
	c.Ran(Elementwise(OpDropout, n))
	if backward && d.needDX {
		c.f32(memory.Workspace, n)
		c.Ran(Elementwise(OpDropout, n))
	}
	return c
}
