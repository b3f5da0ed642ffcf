package lora

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// adapter is one named pair of low-rank factors on a Linear.
type adapter struct {
	A, B    *nn.Param // A [r, in], B [out, r]
	r       int
	alpha   float64
	scale   float32 // alpha/r, or alpha/√r with rsLoRA
	dropout float32
	init    Init

	// M is DoRA's magnitude vector [out] (lora_magnitude_vector); nil for
	// plain LoRA. mergedNorm is ‖W + s·B·A‖ per row while merged.
	M          *nn.Param
	mergedNorm []float32

	// initA, initB are the initial factors of an adapter whose init
	// rewrote the base weight (PiSSA, OLoRA), kept for
	// SaveAdapterConverted.
	initA, initB *tensor.Tensor
}

// adapterSpec is what AddAdapter resolved for one layer.
type adapterSpec struct {
	r            int
	alpha, scale float64
	dropout      float64
	init         Init
	dora         bool
}

// Linear is a LoRA layer: a frozen base nn.Linear plus, per adapter, the
// low-rank update y += s·(drop(x)·Aᵀ)·Bᵀ.
//
// Backward computes dA, dB and dX through both paths, never dW. The input x
// is kept by reference only (it is the output buffer of the module before,
// so query and value, which read the same LayerNorm output, share it); the
// dropout mask is regenerated from (name, step), never stored.
type Linear struct {
	Base *nn.Linear

	adapters map[string]*adapter
	active   string // "" when adapters are disabled
	merged   string // adapter currently merged into Base's weight, if any
	// premerge is Base's weight storage before the merge when that was
	// not f32 (a bf16, fp16, int8 or NF4 base): Unmerge puts it back.
	premerge *tensor.Tensor
	training bool
	step     uint64
	shard    uint64 // this process's part of the global batch (nn.SetBatchShard)
	needDX   bool

	// Saved by Forward for Backward.
	x    *tensor.Tensor // input, by reference
	used *adapter       // adapter applied in the last Forward (nil: none)
	seed uint64         // dropout seed of the last Forward
	// h = drop(x)·Aᵀ [n, r], kept rather than recomputed for dB: on
	// ViT-Tiny (n = 1576, in = 192, r = 16) recomputing it would save
	// 0.09 MiB per layer for a 0.09 ms GEMM, 1 ms per MiB, four to seven
	// times what restoring a LayerNorm or GELU output costs, and the ratio
	// grows with in.
	h *tensor.Tensor

	// Workspace.
	xd, dh, tmp *tensor.Tensor

	// DoRA: saved z = W·x̃ + s·B·A·x̃ and (norm, c) rows; workspace for the
	// norm (W·Aᵀ, B·A·Aᵀ, A·Aᵀ, a widened weight row), dz and the bias
	// correction; float64 scratch.
	z, mn                        *tensor.Tensor
	wp, wq, wg, wrow, dz, colsum *tensor.Tensor
	sq, acc                      []float64
	// fixedNorm, when set, replaces the computed norm: tests hold the
	// detached norm constant to check the gradients by finite differences.
	fixedNorm []float32
}

var (
	_ nn.Layer     = (*Linear)(nil)
	_ nn.Trainable = (*Linear)(nil)
	_ nn.Stepper   = (*Linear)(nil)
	_ nn.Planner   = (*Linear)(nil)
	_ nn.Buffered  = (*Linear)(nil)
)

// newLinear wraps base (no adapters yet).
func newLinear(base *nn.Linear) *Linear {
	return &Linear{Base: base, adapters: map[string]*adapter{}, training: true, needDX: base.InputGrad()}
}

// Name implements nn.Module: the wrapper keeps the base layer's name.
func (l *Linear) Name() string { return l.Base.Name() }

// Params implements nn.Module: the LoRA factors of every adapter, by name.
func (l *Linear) Params() []*nn.Param {
	var ps []*nn.Param
	for _, n := range l.AdapterNames() {
		a := l.adapters[n]
		ps = append(ps, a.A, a.B)
		if a.M != nil {
			ps = append(ps, a.M)
		}
	}
	return ps
}

// Children implements nn.Module.
func (l *Linear) Children() []nn.Module { return []nn.Module{l.Base} }

// AdapterNames lists the adapters on this layer, sorted.
func (l *Linear) AdapterNames() []string {
	ns := make([]string, 0, len(l.adapters))
	for n := range l.adapters {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// Factors returns adapter name's A and B parameters.
func (l *Linear) Factors(name string) (a, b *nn.Param, ok bool) {
	ad, ok := l.adapters[name]
	if !ok {
		return nil, nil, false
	}
	return ad.A, ad.B, true
}

// Scale returns adapter name's scaling s.
func (l *Linear) Scale(name string) float32 { return l.adapters[name].scale }

// SetTraining implements nn.Trainable (dropout only acts in training).
func (l *Linear) SetTraining(on bool) { l.training = on }

// SetStep implements nn.Stepper.
func (l *Linear) SetStep(step uint64) { l.step = step }

// SetBatchShard implements nn.BatchSharder: the dropout mask of this
// process's part of the global batch.
func (l *Linear) SetBatchShard(index int) { l.shard = uint64(index) }

// SetInputGrad implements nn.Layer.
func (l *Linear) SetInputGrad(need bool) {
	l.needDX = need
	l.Base.SetInputGrad(need)
}

var (
	_ nn.OutputKeeper = (*Linear)(nil)
	_ nn.InputReader  = (*Linear)(nil)
)

// KeepOutput implements nn.OutputKeeper: the output is the base layer's.
func (l *Linear) KeepOutput(keep bool) { l.Base.KeepOutput(keep) }

// NeedsInput implements nn.InputReader: dA reads the (dropped) input.
func (l *Linear) NeedsInput() bool {
	a := l.adapters[l.active]
	return l.Base.NeedsInput() || a != nil && l.merged == "" && a.A.Trainable
}

// addAdapter creates adapter name with the resolved spec: the factors
// initialised as spec.init asks (which may rewrite the base weight), then
// DoRA's magnitude. Nothing changes when it returns an error.
func (l *Linear) addAdapter(name string, sp adapterSpec, rng *rand.Rand) error {
	in, out, r := l.Base.In, l.Base.Out, sp.r
	prefix := l.Name()
	a := &adapter{r: r, alpha: sp.alpha, scale: float32(sp.scale), dropout: float32(sp.dropout), init: sp.init}
	a.A = nn.NewParam(fmt.Sprintf("%s.lora_A.%s.weight", prefix, name), tensor.New(tensor.F32, r, in))
	a.B = nn.NewParam(fmt.Sprintf("%s.lora_B.%s.weight", prefix, name), tensor.New(tensor.F32, out, r))
	if err := l.initFactors(a, sp.init, rng); err != nil {
		return err
	}
	if sp.dora {
		l.initMagnitude(a, name)
	}
	l.adapters[name] = a
	return nil
}

// Forward implements nn.Layer.
func (l *Linear) Forward(x *tensor.Tensor) *tensor.Tensor {
	y := l.Base.Forward(x)
	l.used, l.x = nil, nil
	a := l.adapters[l.active]
	if a == nil || l.merged != "" {
		return y
	}
	in, out, r := l.Base.In, l.Base.Out, a.r
	n := x.Len() / in
	l.used, l.x = a, x
	l.seed = nn.SeedFor(l.Name(), l.step)
	xd := l.dropped(x, a)
	l.h = nn.ReuseAs(memory.Activations, l.h, n, r)
	kernels.Sgemm(false, true, n, r, in, 1, xd, in, a.A.Value.F32(), in, 0, l.h.F32(), r)
	if a.isDoRA() {
		l.forwardDoRA(a, x, xd, y)
		return y
	}
	kernels.Sgemm(false, true, n, out, r, a.scale, l.h.F32(), r, a.B.Value.F32(), r, 1, y.F32(), out)
	return y
}

// dropped returns drop(x) for adapter a: x itself in eval mode or with
// p = 0, else the mask drawn from the saved seed into workspace.
func (l *Linear) dropped(x *tensor.Tensor, a *adapter) []float32 {
	if !l.training || a.dropout == 0 {
		return x.F32()
	}
	l.xd = nn.ReuseAs(memory.Workspace, l.xd, x.Len())
	kernels.DropoutForward(l.xd.F32(), x.F32(), a.dropout, l.seed, nn.ShardOffset(l.shard, x.Len()))
	return l.xd.F32()
}

// Backward implements nn.Layer.
func (l *Linear) Backward(dy *tensor.Tensor) *tensor.Tensor {
	a := l.used
	if a != nil && a.isDoRA() {
		return l.backwardDoRA(a, dy)
	}
	var dh []float32
	if a != nil {
		in, out, r := l.Base.In, l.Base.Out, a.r
		n := dy.Len() / out
		g := dy.F32()
		if a.B.Trainable { // dB += s·dyᵀ·h
			kernels.Sgemm(true, false, out, r, n, a.scale, g, out, l.h.F32(), r, 1, a.B.Grad.F32(), r)
		}
		if a.A.Trainable || l.needDX { // dh = s·dy·B
			l.dh = nn.ReuseAs(memory.Workspace, l.dh, n, r)
			dh = l.dh.F32()
			kernels.Sgemm(false, false, n, r, out, a.scale, g, out, a.B.Value.F32(), r, 0, dh, r)
		}
		if a.A.Trainable { // dA += dhᵀ·drop(x)
			xd := l.dropped(l.x, a)
			kernels.Sgemm(true, false, r, in, n, 1, dh, r, xd, in, 1, a.A.Grad.F32(), in)
		}
	}
	dx := l.Base.Backward(dy)
	if dx == nil || a == nil {
		return dx
	}
	in, r := l.Base.In, a.r
	n := dy.Len() / l.Base.Out
	if !l.training || a.dropout == 0 { // dx += dh·A
		kernels.Sgemm(false, false, n, in, r, 1, dh, r, a.A.Value.F32(), in, 1, dx.F32(), in)
		return dx
	}
	l.tmp = nn.ReuseAs(memory.Workspace, l.tmp, n, in)
	kernels.Sgemm(false, false, n, in, r, 1, dh, r, a.A.Value.F32(), in, 0, l.tmp.F32(), in)
	kernels.DropoutBackward(dx.F32(), l.tmp.F32(), a.dropout, l.seed, nn.ShardOffset(l.shard, l.tmp.Len()))
	return dx
}

// deltaInto adds sign·s·B·A (transposed for fan_in_fan_out) into w.
func (l *Linear) deltaInto(w []float32, a *adapter, sign float32) {
	in, out, r := l.Base.In, l.Base.Out, a.r
	if l.Base.FanInFanOut { // W[in,out] += s·Aᵀ·Bᵀ
		kernels.Sgemm(true, true, in, out, r, sign*a.scale, a.A.Value.F32(), in, a.B.Value.F32(), r, 1, w, out)
		return
	}
	kernels.Sgemm(false, false, out, in, r, sign*a.scale, a.B.Value.F32(), r, a.A.Value.F32(), in, 1, w, in)
}

// merge folds adapter name into the base weight. A base weight stored in
// bf16, fp16, int8 or NF4 is dequantised first: the merged weight is f32,
// W' = dequant(W) + s·B·A, as PEFT's merge followed by dequantize gives it
// (no second rounding), and unmerge puts the stored original back exactly.
func (l *Linear) merge(name string) error {
	a, ok := l.adapters[name]
	if !ok {
		return nil // this layer does not carry the adapter
	}
	if l.merged != "" {
		return fmt.Errorf("lora: %s: adapter %q is already merged", l.Name(), l.merged)
	}
	l.premerge = l.Base.DequantizeWeight()
	if w := l.Base.Weight.Value.F32(); a.isDoRA() {
		l.mergeDoRA(w, a)
	} else {
		l.deltaInto(w, a, 1)
	}
	l.merged = name
	return nil
}

// unmerge subtracts the merged adapter again, or restores the stored
// weight it was merged into.
func (l *Linear) unmerge() {
	if l.merged == "" {
		return
	}
	if a := l.adapters[l.merged]; l.premerge != nil {
		l.Base.Weight.Value, l.premerge = l.premerge, nil
		a.mergedNorm = nil
	} else if a.isDoRA() {
		l.unmergeDoRA(l.Base.Weight.Value.F32(), a)
	} else {
		l.deltaInto(l.Base.Weight.Value.F32(), a, -1)
	}
	l.merged = ""
}

// Buffers implements nn.Buffered (the base layer's are its own).
func (l *Linear) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&l.h, &l.z, &l.mn}, []**tensor.Tensor{&l.xd, &l.dh, &l.tmp, &l.wp, &l.wq, &l.wg, &l.wrow, &l.dz, &l.colsum}
}

// Plan implements nn.Planner: the base layer's cost plus, for the active
// unmerged adapter, h [n, r] (activation), the dropped input, dh and the
// dropout's dx term (workspace), and the rank-r GEMMs; dA and dB count as
// weight gradients, dh and dh·A as input gradients.
func (l *Linear) Plan(in []int, backward bool) nn.Cost {
	c := l.Base.Plan(in, backward)
	a := l.adapters[l.active]
	if a == nil || l.merged != "" {
		return c
	}
	din, out, r := l.Base.In, l.Base.Out, a.r
	n := tensor.NumElems(in) / din
	dropped := l.training && a.dropout != 0
	var k nn.Cost
	k.Bytes[memory.Activations] += 4 * int64(n*r)
	if dropped {
		k.Bytes[memory.Workspace] += 4 * int64(n*din)
		k.Ran(nn.Elementwise(nn.OpDropout, n*din))
	}
	if a.isDoRA() {
		k.Forward = nn.GemmFLOPs(n, r, din)
		k.LowRank = k.Forward
		k.Ran(nn.GemmOp(false, true, n, r, din))
		return c.Plus(k).Plus(l.planDoRA(a, n, backward))
	}
	k.Forward = nn.GemmFLOPs(n, r, din) + nn.GemmFLOPs(n, out, r)
	k.Ran(nn.GemmOp(false, true, n, r, din))
	k.Ran(nn.GemmOp(false, true, n, out, r))
	if backward {
		if a.B.Trainable {
			k.BackwardDW += nn.GemmFLOPs(out, r, n)
			k.Ran(nn.GemmOp(true, false, out, r, n))
		}
		if a.A.Trainable || l.needDX {
			k.Bytes[memory.Workspace] += 4 * int64(n*r)
			k.BackwardDX += nn.GemmFLOPs(n, r, out)
			k.Ran(nn.GemmOp(false, false, n, r, out))
		}
		if a.A.Trainable {
			k.BackwardDW += nn.GemmFLOPs(r, din, n)
			if dropped {
				k.Ran(nn.Elementwise(nn.OpDropout, n*din))
			}
			k.Ran(nn.GemmOp(true, false, r, din, n))
		}
		if l.Base.InputGrad() { // the base returned dx
			k.BackwardDX += nn.GemmFLOPs(n, din, r)
			k.Ran(nn.GemmOp(false, false, n, din, r))
			if dropped {
				k.Bytes[memory.Workspace] += 4 * int64(n*din)
				k.Ran(nn.Elementwise(nn.OpDropout, n*din))
			}
		}
	}
	k.LowRank = k.Forward + k.BackwardDX + k.BackwardDW
	return c.Plus(k)
}
