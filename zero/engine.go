package zero

import (
	"errors"
	"fmt"
	"math"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/optim"
	"github.com/golora/golora/tensor"
)

// Config configures an Engine.
type Config struct {
	// Stage is the ZeRO stage: 0, 1 or 2.
	Stage int
	// NewOptimizer makes the optimizer over the parameters a rank updates:
	// the trainable parameters themselves, or (stages 1 and 2 with several
	// ranks) one-dimensional views of the rank's shares of them, named as
	// the parameter they belong to.
	NewOptimizer func(params []*nn.Param) (optim.Optimizer, error)
}

// Engine runs the collective part of data-parallel optimizer steps for
// one rank. A step is: ZeroGrad; for each micro-batch a forward, a
// backward and EndBackward; Reduce; ClipGradNorm; Step.
type Engine struct {
	comm        collective.Comm
	stage       int
	rank, world int
	layout      *Layout
	model       nn.Module
	params      []*nn.Param // every trainable parameter
	segs        []*nn.Param // what the optimizer updates
	refs        []segRef    // stages 1, 2: where each of segs lies
	opt         optim.Optimizer

	// Stages 0 and 1: flat holds every gradient, unit after unit. Stage 2:
	// flat is the buffer of the unit being back-propagated and shard the
	// rank's reduced shares, unit after unit (shardOff).
	flat, shard []float32
	shardOff    []int
	reported    []bool // stage 2: units reduced in this micro-batch
	micro       int    // stage 2: micro-batches reduced since ZeroGrad
	err         error  // first failure of a reduction run from the backward
}

// New makes the Engine of comm's rank for the trainable parameters of
// model. With several ranks the parameters' gradients become views into
// the Engine's buffers (counted as memory.Gradients) and, at stage 2, the
// model reports its parts' ends (nn.GradUnits) to the Engine.
func New(comm collective.Comm, model nn.Module, cfg Config) (*Engine, error) {
	if cfg.Stage < 0 || cfg.Stage > 2 {
		return nil, fmt.Errorf("zero: stage %d, want 0, 1 or 2", cfg.Stage)
	}
	if cfg.NewOptimizer == nil {
		return nil, errors.New("zero: Config.NewOptimizer is nil")
	}
	l, err := NewLayout(model, comm.Size())
	if err != nil {
		return nil, err
	}
	e := &Engine{comm: comm, stage: cfg.Stage, rank: comm.Rank(), world: comm.Size(), layout: l, model: model,
		params: nn.TrainableParams(model)}
	if e.world == 1 {
		e.segs = e.params
	} else {
		e.bind()
	}
	if e.opt, err = cfg.NewOptimizer(e.segs); err != nil {
		return nil, err
	}
	if e.stage > 0 && e.world > 1 {
		if _, ok := e.opt.(optim.StateLayout); !ok {
			return nil, fmt.Errorf("zero: stage %d needs an optimizer that describes its state (optim.StateLayout); %T does not", e.stage, e.opt)
		}
	}
	return e, nil
}

// bind allocates the gradient buffers, points the parameters' gradients
// into them and makes the views the optimizer updates.
func (e *Engine) bind() {
	l := e.layout
	if e.stage == 2 {
		e.flat = memory.Alloc(memory.Gradients, l.MaxUnit())
		e.shard = memory.Alloc(memory.Gradients, l.Owned(e.rank))
		e.reported = make([]bool, len(l.Units))
		off := 0
		for _, u := range l.Units {
			e.shardOff = append(e.shardOff, off)
			off += u.Counts[e.rank]
		}
	} else {
		e.flat = memory.Alloc(memory.Gradients, l.Total())
	}
	for ui, u := range l.Units {
		base := u.Offset
		if e.stage == 2 {
			base = 0 // every unit back-propagates into the same buffer
		}
		for i, p := range u.Params {
			lo := base + u.Start[i]
			p.Grad = tensor.FromF32(e.flat[lo:lo+p.Len()], p.Value.Shape()...)
		}
		if e.stage == 0 {
			continue
		}
		// The rank's share [a, b) of the unit, cut at parameter bounds.
		a, b := u.Offs[e.rank], u.Offs[e.rank]+u.Counts[e.rank]
		for i, p := range u.Params {
			lo, hi := max(a, u.Start[i]), min(b, u.Start[i]+p.Len())
			if lo >= hi {
				continue
			}
			var g []float32
			if e.stage == 2 {
				g = e.shard[e.shardOff[ui]+lo-a : e.shardOff[ui]+hi-a]
			} else {
				g = e.flat[u.Offset+lo : u.Offset+hi]
			}
			v := p.Value.F32()[lo-u.Start[i] : hi-u.Start[i]]
			e.segs = append(e.segs, &nn.Param{Name: p.Name, Value: tensor.FromF32(v, hi-lo),
				Grad: tensor.FromF32(g, hi-lo), Trainable: true})
			e.refs = append(e.refs, segRef{unit: ui, param: i, lo: lo - u.Start[i], hi: hi - u.Start[i]})
		}
	}
	if e.stage == 0 {
		e.segs = e.params
	}
	e.Attach()
}

// hooked reports whether the Engine follows the model's backward part by
// part (stage 2, several ranks, a model with nn.GradUnits).
func (e *Engine) hooked() (nn.GradUnits, bool) {
	gu, ok := e.model.(nn.GradUnits)
	return gu, ok && e.stage == 2 && e.world > 1 && e.layout.unitOf != nil
}

// Attach makes the model's backward report its parts to the Engine (New
// does it; after Close, call it before the next step).
func (e *Engine) Attach() {
	if gu, ok := e.hooked(); ok {
		gu.OnGradUnit(e.unitDone)
	}
}

// Close detaches the Engine from the model's backward, which then runs as
// without it.
func (e *Engine) Close() {
	if gu, ok := e.hooked(); ok {
		gu.OnGradUnit(nil)
	}
}

// Layout is how the trainable parameters are flattened and sharded.
func (e *Engine) Layout() *Layout { return e.layout }

// Comm is the Engine's group.
func (e *Engine) Comm() collective.Comm { return e.comm }

// Stage is the ZeRO stage.
func (e *Engine) Stage() int { return e.stage }

// Optimizer is the optimizer over the rank's share (SetLR goes through
// Step).
func (e *Engine) Optimizer() optim.Optimizer { return e.opt }

// ZeroGrad clears the gradients before a step's first micro-batch.
func (e *Engine) ZeroGrad() {
	if e.world == 1 {
		for _, p := range e.params {
			p.ZeroGrad()
		}
		return
	}
	clear(e.flat)
	e.micro = 0
	clear(e.reported)
}

// unitDone is the model's report that unit mu's gradients are final for
// this micro-batch (stage 2).
func (e *Engine) unitDone(mu int) {
	if e.err != nil || mu < 0 || mu >= len(e.layout.unitOf) {
		return
	}
	if u := e.layout.unitOf[mu]; u >= 0 {
		e.err = e.reduceUnit(u)
	}
}

// reduceUnit reduce-scatters unit u out of the buffer into the rank's
// share (stage 2) and clears the buffer for the next unit.
func (e *Engine) reduceUnit(u int) error {
	unit := &e.layout.Units[u]
	if e.reported[u] {
		return fmt.Errorf("zero: the backward reported part %d twice", u)
	}
	e.reported[u] = true
	b := e.flat[:unit.Size]
	if err := e.comm.ReduceScatterSum(b, unit.Counts); err != nil {
		return err
	}
	a := unit.Offs[e.rank]
	own := b[a : a+unit.Counts[e.rank]]
	dst := e.shard[e.shardOff[u] : e.shardOff[u]+len(own)]
	if e.micro == 0 {
		copy(dst, own)
	} else {
		for i, v := range own {
			dst[i] += v
		}
	}
	clear(b)
	return nil
}

// EndBackward follows each micro-batch's backward: at stage 2 it reduces
// what the backward did not report (the whole model, without
// nn.GradUnits), and returns the first error of the reductions the
// backward triggered.
func (e *Engine) EndBackward() error {
	if e.world == 1 || e.stage != 2 {
		return nil
	}
	if e.err != nil {
		return e.err
	}
	var missing []int
	for u, done := range e.reported {
		if !done {
			missing = append(missing, u)
		}
	}
	if len(missing) > 1 {
		// They all back-propagated into the same buffer.
		e.err = fmt.Errorf("zero: the backward did not report the ends of parts %v (nn.GradUnits): their gradients are mixed", missing)
		return e.err
	}
	for _, u := range missing {
		if e.err = e.reduceUnit(u); e.err != nil {
			return e.err
		}
	}
	e.micro++
	clear(e.reported)
	return nil
}

// SumScalars adds vals over the ranks (a step's loss, an evaluation's
// sums).
func (e *Engine) SumScalars(vals []float64) error { return e.comm.AllReduceSum64(vals) }

// Reduce sums the gradients of the step's micro-batches over the ranks:
// the whole gradient (stage 0) or each rank's shares (stage 1); stage 2
// has reduced them already.
func (e *Engine) Reduce() error {
	if e.world == 1 || e.stage == 2 {
		return nil
	}
	if e.stage == 0 {
		return e.comm.AllReduceSum(e.flat)
	}
	for _, u := range e.layout.Units {
		if err := e.comm.ReduceScatterSum(e.flat[u.Offset:u.Offset+u.Size], u.Counts); err != nil {
			return err
		}
	}
	return nil
}

// owned returns the rank's reduced share of unit u.
func (e *Engine) owned(u, rank int) []float32 {
	unit := &e.layout.Units[u]
	if e.stage == 2 {
		return e.shard[e.shardOff[u] : e.shardOff[u]+unit.Counts[rank]]
	}
	a := unit.Offset + unit.Offs[rank]
	return e.flat[a : a+unit.Counts[rank]]
}

// GradNorm returns the L2 norm of the whole reduced gradient. With several
// ranks it is summed share by share, in rank order, whatever the stage
// (stage 0 holds every share; the others all-reduce one partial sum per
// rank), so every stage gets the same bits.
func (e *Engine) GradNorm() (float64, error) {
	if e.world == 1 {
		return optim.GradNorm(e.params), nil
	}
	part := make([]float64, e.world)
	for r := range part {
		if e.stage > 0 && r != e.rank {
			continue
		}
		for u := range e.layout.Units {
			part[r] += optim.SumSquares(e.owned(u, r))
		}
	}
	if e.stage > 0 {
		if err := e.comm.AllReduceSum64(part); err != nil {
			return 0, err
		}
	}
	var s float64
	for _, v := range part {
		s += v
	}
	return math.Sqrt(s), nil
}

// ClipGradNorm is torch's clip_grad_norm_ over the whole reduced gradient
// (see optim.ClipGradNorm): it returns the norm and, when maxNorm > 0 and
// the norm exceeds it, scales the gradient the rank holds. A non-finite
// norm is returned with an error wrapping optim.ErrNonFiniteNorm and the
// gradients untouched.
func (e *Engine) ClipGradNorm(maxNorm float64) (float64, error) {
	if e.world == 1 {
		if !(maxNorm > 0) {
			return optim.GradNorm(e.params), nil
		}
		return optim.ClipGradNorm(e.params, maxNorm)
	}
	total, err := e.GradNorm()
	if err != nil {
		return 0, err
	}
	if math.IsNaN(total) || math.IsInf(total, 0) {
		return total, fmt.Errorf("%w: %v", optim.ErrNonFiniteNorm, total)
	}
	if !(maxNorm > 0) {
		return total, nil
	}
	if c := maxNorm / (total + 1e-6); c < 1 {
		if e.stage == 0 {
			kernels.Scale(e.flat, float32(c))
		} else {
			for u := range e.layout.Units {
				kernels.Scale(e.owned(u, e.rank), float32(c))
			}
		}
	}
	return total, nil
}

// Step applies one optimizer update at rate lr to the rank's share and,
// at stages 1 and 2, all-gathers the updated values, so every rank ends
// with the whole model. The gradient buffers serve as staging: ZeroGrad
// must come before the next backward.
func (e *Engine) Step(lr float64) error {
	e.opt.SetLR(lr)
	e.opt.Step()
	if e.world == 1 || e.stage == 0 {
		return nil
	}
	return e.gatherValues()
}

// stage returns the staging buffer of unit u (its place in flat, or the
// stage-2 buffer).
func (e *Engine) staging(u *Unit) []float32 {
	if e.stage == 2 {
		return e.flat[:u.Size]
	}
	return e.flat[u.Offset : u.Offset+u.Size]
}

// pack copies unit u's parameter values into buf; unpack copies them back.
func pack(u *Unit, buf []float32) {
	for i, p := range u.Params {
		copy(buf[u.Start[i]:], p.Value.F32())
	}
}

func unpack(u *Unit, buf []float32) {
	for i, p := range u.Params {
		copy(p.Value.F32(), buf[u.Start[i]:u.Start[i]+p.Len()])
	}
}

func (e *Engine) gatherValues() error {
	for i := range e.layout.Units {
		u := &e.layout.Units[i]
		buf := e.staging(u)
		pack(u, buf)
		if err := e.comm.AllGather(buf, u.Counts); err != nil {
			return err
		}
		unpack(u, buf)
	}
	return nil
}

// SyncParams copies rank 0's trainable values to every rank (as PyTorch's
// DDP does at start), through the gradient buffers, and checks that every
// rank holds the same model (frozen weights included): a rank that loaded
// another base model is an error. Call it before a step, not between a
// backward and Step.
func (e *Engine) SyncParams() error {
	if e.world == 1 {
		return nil
	}
	for i := range e.layout.Units {
		u := &e.layout.Units[i]
		buf := e.staging(u)
		pack(u, buf)
		if err := e.comm.Bcast(buf, 0); err != nil {
			return err
		}
		unpack(u, buf)
	}
	clear(e.flat)
	prints := make([]float64, e.world)
	prints[e.rank] = float64(fingerprint(e.model) >> 12) // 52 bits: exact in a float64
	if err := e.comm.AllReduceSum64(prints); err != nil {
		return err
	}
	for r, p := range prints {
		if p != prints[0] {
			return fmt.Errorf("zero: rank %d's model differs from rank 0's (names, shapes or frozen values): every rank must load the same base model", r)
		}
	}
	return nil
}

// fingerprint hashes (FNV-1a) the names, shapes and values of every
// parameter of m, whatever their storage dtype.
func fingerprint(m nn.Module) uint64 {
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		for range 8 {
			h ^= v & 0xff
			h *= 1099511628211
			v >>= 8
		}
	}
	var buf [4096]float32
	for _, p := range nn.AllParams(m) {
		for i := 0; i < len(p.Name); i++ {
			mix(uint64(p.Name[i]))
		}
		for _, d := range p.Value.Shape() {
			mix(uint64(d))
		}
		n := p.Len()
		for off := 0; off < n; off += len(buf) {
			b := buf[:min(len(buf), n-off)]
			p.Value.Dequantize(b, off)
			for _, v := range b {
				mix(uint64(math.Float32bits(v)))
			}
		}
	}
	return h
}
