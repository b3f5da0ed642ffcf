package adalora

import (
	"fmt"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Linear is PEFT's SVDLinear: a frozen base nn.Linear plus the update
//
//	y += (drop(x)·(A⊙E)ᵀ)·Bᵀ · scaling/(ranknum + 1e-5)
//
// with A [r, in] (right singular vectors, lora_A), E [r, 1] (singular
// values, lora_E) and B [out, r] (left singular vectors, lora_B). ranknum
// is the rank the layer was created with; it stays when pruned ranks are
// cut away (PEFT keeps the scaling "exactly as the previous"), so a
// resized layer computes what the masked one did.
//
// Backward computes dA, dE, dB and dX, never dW. The input is kept by
// reference; A⊙E and the dropout mask are recomputed, never stored.
type Linear struct {
	Base *nn.Linear

	A, E, B *nn.Param
	r       int     // current rank (rows of A)
	ranknum float64 // the rank the scaling divides by
	scaling float64 // lora_alpha (or r when alpha <= 0)
	dropout float32

	enabled  bool // false: the base output only (disable_adapter)
	merged   bool
	premerge *tensor.Tensor // the base weight's storage before a merge, when not f32
	training bool
	step     uint64
	shard    uint64 // this process's part of the global batch (nn.SetBatchShard)
	needDX   bool

	// Saved by Forward for Backward.
	x    *tensor.Tensor // input, by reference
	used bool           // the adapter ran in the last Forward
	seed uint64
	h    *tensor.Tensor // drop(x)·(A⊙E)ᵀ [n, r]

	// Workspace.
	ae, dae, xd, dh, tmp *tensor.Tensor
}

var (
	_ nn.Layer     = (*Linear)(nil)
	_ nn.Trainable = (*Linear)(nil)
	_ nn.Stepper   = (*Linear)(nil)
	_ nn.Planner   = (*Linear)(nil)
	_ nn.Buffered  = (*Linear)(nil)
)

// newLinear wraps base with a rank-r adapter; the factors are zero.
func newLinear(base *nn.Linear, r int, scaling float64, dropout float64) *Linear {
	l := &Linear{Base: base, scaling: scaling, ranknum: float64(r), dropout: float32(dropout),
		enabled: true, training: true, needDX: base.InputGrad()}
	l.resize(r)
	return l
}

// resize gives the layer fresh zero factors of rank r (ranknum unchanged).
func (l *Linear) resize(r int) {
	p := l.Name()
	l.r = r
	l.A = nn.NewParam(p+".lora_A."+adapterName, tensor.New(tensor.F32, r, l.Base.In))
	l.E = nn.NewParam(p+".lora_E."+adapterName, tensor.New(tensor.F32, r, 1))
	l.B = nn.NewParam(p+".lora_B."+adapterName, tensor.New(tensor.F32, l.Base.Out, r))
}

// adapterName is the only adapter an AdaLoRA model trains (PEFT: one
// trainable adapter per AdaLoraModel).
const adapterName = "default"

// Name implements nn.Module: the wrapper keeps the base layer's name.
func (l *Linear) Name() string { return l.Base.Name() }

// Params implements nn.Module: lora_A, lora_E, lora_B.
func (l *Linear) Params() []*nn.Param { return []*nn.Param{l.A, l.E, l.B} }

// Children implements nn.Module.
func (l *Linear) Children() []nn.Module { return []nn.Module{l.Base} }

// Rank returns the number of rows of A (kept plus masked ranks).
func (l *Linear) Rank() int { return l.r }

// Scale returns scaling/(ranknum + 1e-5) as the forward applies it: the
// divisor is rounded to f32, as PEFT's ranknum parameter is.
func (l *Linear) Scale() float32 {
	return float32(l.scaling / float64(float32(l.ranknum+1e-5)))
}

// SetTraining implements nn.Trainable.
func (l *Linear) SetTraining(on bool) { l.training = on }

// SetStep implements nn.Stepper.
func (l *Linear) SetStep(step uint64) { l.step = step }

// SetBatchShard implements nn.BatchSharder.
func (l *Linear) SetBatchShard(index int) { l.shard = uint64(index) }

// SetInputGrad implements nn.Layer.
func (l *Linear) SetInputGrad(need bool) {
	l.needDX = need
	l.Base.SetInputGrad(need)
}

// KeepOutput implements nn.OutputKeeper: the output is the base layer's.
func (l *Linear) KeepOutput(keep bool) { l.Base.KeepOutput(keep) }

// NeedsInput implements nn.InputReader: d(A⊙E) reads the (dropped) input.
func (l *Linear) NeedsInput() bool {
	return l.Base.NeedsInput() || l.active() && (l.A.Trainable || l.E.Trainable)
}

// active reports whether Forward adds the update.
func (l *Linear) active() bool { return l.enabled && !l.merged && l.r > 0 }

// scaledA writes A⊙E (row i of A times E[i]) into workspace.
func (l *Linear) scaledA() []float32 {
	in := l.Base.In
	l.ae = nn.ReuseAs(memory.Workspace, l.ae, l.r, in)
	ae, a, e := l.ae.F32(), l.A.Value.F32(), l.E.Value.F32()
	for i := 0; i < l.r; i++ {
		ei := e[i]
		row, dst := a[i*in:(i+1)*in], ae[i*in:(i+1)*in]
		for j, v := range row {
			dst[j] = v * ei
		}
	}
	return ae
}

// Forward implements nn.Layer.
func (l *Linear) Forward(x *tensor.Tensor) *tensor.Tensor {
	y := l.Base.Forward(x)
	l.used, l.x = false, nil
	if !l.active() {
		return y
	}
	in, out, r := l.Base.In, l.Base.Out, l.r
	n := x.Len() / in
	l.used, l.x = true, x
	l.seed = nn.SeedFor(l.Name(), l.step)
	xd := l.dropped(x)
	ae := l.scaledA()
	l.h = nn.ReuseAs(memory.Activations, l.h, n, r)
	kernels.Sgemm(false, true, n, r, in, 1, xd, in, ae, in, 0, l.h.F32(), r)
	kernels.Sgemm(false, true, n, out, r, l.Scale(), l.h.F32(), r, l.B.Value.F32(), r, 1, y.F32(), out)
	return y
}

// dropped returns drop(x): x itself in eval mode or with p = 0.
func (l *Linear) dropped(x *tensor.Tensor) []float32 {
	if !l.training || l.dropout == 0 {
		return x.F32()
	}
	l.xd = nn.ReuseAs(memory.Workspace, l.xd, x.Len())
	kernels.DropoutForward(l.xd.F32(), x.F32(), l.dropout, l.seed, nn.ShardOffset(l.shard, x.Len()))
	return l.xd.F32()
}

// Backward implements nn.Layer.
func (l *Linear) Backward(dy *tensor.Tensor) *tensor.Tensor {
	var dh, ae []float32
	in, out, r := l.Base.In, l.Base.Out, l.r
	n := dy.Len() / out
	if l.used {
		g, s := dy.F32(), l.Scale()
		if l.B.Trainable { // dB += s·dyᵀ·h
			kernels.Sgemm(true, false, out, r, n, s, g, out, l.h.F32(), r, 1, l.B.Grad.F32(), r)
		}
		ae = l.scaledA()
		l.dh = nn.ReuseAs(memory.Workspace, l.dh, n, r)
		dh = l.dh.F32() // dh = s·dy·B
		kernels.Sgemm(false, false, n, r, out, s, g, out, l.B.Value.F32(), r, 0, dh, r)
		if l.A.Trainable || l.E.Trainable { // d(A⊙E) = dhᵀ·drop(x)
			xd := l.dropped(l.x)
			l.dae = nn.ReuseAs(memory.Workspace, l.dae, r, in)
			dae := l.dae.F32()
			kernels.Sgemm(true, false, r, in, n, 1, dh, r, xd, in, 0, dae, in)
			a, e := l.A.Value.F32(), l.E.Value.F32()
			for i := 0; i < r; i++ {
				row, arow := dae[i*in:(i+1)*in], a[i*in:(i+1)*in]
				if l.A.Trainable {
					ga, ei := l.A.Grad.F32()[i*in:(i+1)*in], e[i]
					for j, v := range row {
						ga[j] += ei * v
					}
				}
				if l.E.Trainable {
					var s float32
					for j, v := range row {
						s += arow[j] * v
					}
					l.E.Grad.F32()[i] += s
				}
			}
		}
	}
	dx := l.Base.Backward(dy)
	if dx == nil || !l.used {
		return dx
	}
	if !l.training || l.dropout == 0 { // dx += dh·(A⊙E)
		kernels.Sgemm(false, false, n, in, r, 1, dh, r, ae, in, 1, dx.F32(), in)
		return dx
	}
	l.tmp = nn.ReuseAs(memory.Workspace, l.tmp, n, in)
	kernels.Sgemm(false, false, n, in, r, 1, dh, r, ae, in, 0, l.tmp.F32(), in)
	kernels.DropoutBackward(dx.F32(), l.tmp.F32(), l.dropout, l.seed, nn.ShardOffset(l.shard, l.tmp.Len()))
	return dx
}

// deltaInto adds sign·B·(A⊙E)·scale (transposed for fan_in_fan_out) into w:
// PEFT's get_delta_weight.
func (l *Linear) deltaInto(w []float32, sign float32) {
	if l.r == 0 {
		return
	}
	in, out, r := l.Base.In, l.Base.Out, l.r
	ae := l.scaledA()
	s := sign * l.Scale()
	if l.Base.FanInFanOut { // W[in,out] += s·(A⊙E)ᵀ·Bᵀ
		kernels.Sgemm(true, true, in, out, r, s, ae, in, l.B.Value.F32(), r, 1, w, out)
		return
	}
	kernels.Sgemm(false, false, out, in, r, s, l.B.Value.F32(), r, ae, in, 1, w, in)
}

// merge folds the update into the base weight; a bf16, fp16, int8 or NF4
// base weight is dequantised first (the merged weight is f32) and put back
// by unmerge, as in package lora.
func (l *Linear) merge() error {
	if l.merged {
		return fmt.Errorf("adalora: %s: already merged", l.Name())
	}
	l.premerge = l.Base.DequantizeWeight()
	l.deltaInto(l.Base.Weight.Value.F32(), 1)
	l.merged = true
	return nil
}

// unmerge subtracts the merged update again, or restores the stored weight.
func (l *Linear) unmerge() {
	if !l.merged {
		return
	}
	if l.premerge != nil {
		l.Base.Weight.Value, l.premerge = l.premerge, nil
	} else {
		l.deltaInto(l.Base.Weight.Value.F32(), -1)
	}
	l.merged = false
}

// Buffers implements nn.Buffered (the base layer's are its own).
func (l *Linear) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&l.h}, []**tensor.Tensor{&l.ae, &l.dae, &l.xd, &l.dh, &l.tmp}
}

// Plan implements nn.Planner: the base layer's cost plus h [n, r]
// (activation), A⊙E, d(A⊙E), the dropped input, dh and the dropout's dx
// term (workspace), and the rank-r GEMMs.
func (l *Linear) Plan(in []int, backward bool) nn.Cost {
	c := l.Base.Plan(in, backward)
	if !l.active() {
		return c
	}
	din, out, r := l.Base.In, l.Base.Out, l.r
	n := tensor.NumElems(in) / din
	dropped := l.training && l.dropout != 0
	var k nn.Cost
	k.Bytes[memory.Activations] += 4 * int64(n*r)
	k.Bytes[memory.Workspace] += 4 * int64(r*din)
	// The ops, for the step time; the loops over [r, in] (A⊙E and its
	// gradient) are declared as copies and adds of that size.
	k.Ran(nn.Elementwise(nn.OpCopy, r*din))
	if dropped {
		k.Bytes[memory.Workspace] += 4 * int64(n*din)
		k.Ran(nn.Elementwise(nn.OpDropout, n*din))
	}
	k.Forward = nn.GemmFLOPs(n, r, din) + nn.GemmFLOPs(n, out, r)
	k.Ran(nn.GemmOp(false, true, n, r, din))
	k.Ran(nn.GemmOp(false, true, n, out, r))
	if backward {
		if l.B.Trainable {
			k.BackwardDW += nn.GemmFLOPs(out, r, n)
			k.Ran(nn.GemmOp(true, false, out, r, n))
		}
		k.Bytes[memory.Workspace] += 4 * int64(n*r)
		k.BackwardDX += nn.GemmFLOPs(n, r, out)
		k.Ran(nn.Elementwise(nn.OpCopy, r*din))
		k.Ran(nn.GemmOp(false, false, n, r, out))
		if l.A.Trainable || l.E.Trainable {
			k.Bytes[memory.Workspace] += 4 * int64(r*din)
			k.BackwardDW += nn.GemmFLOPs(r, din, n)
			if dropped {
				k.Ran(nn.Elementwise(nn.OpDropout, n*din))
			}
			k.Ran(nn.GemmOp(true, false, r, din, n))
			k.Ran(nn.Elementwise(nn.OpAdd, r*din))
		}
		if l.Base.InputGrad() {
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
