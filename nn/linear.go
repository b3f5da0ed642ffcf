package nn

import (
	"fmt"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// Linear is y = x·Wᵀ + b with W [out, in] as torch.nn.Linear stores it, or
// y = x·W + b with W [in, out] when FanInFanOut (GPT-2's Conv1D layout).
// A frozen W may be stored in bf16, fp16, int8 or NF4 (see Storage); it is
// widened to f32 inside the GEMM's packing, a panel at a time, so the
// forward x·Wᵀ and the input gradient dY·W never make an f32 copy of it.
type Linear struct {
	name        string
	In, Out     int
	Weight      *Param
	Bias        *Param // nil when the layer has no bias
	FanInFanOut bool
	// Conv marks a Linear that computes a convolution (ViT's patch
	// embedding, a torch Conv2d): quantisation leaves it alone, as
	// bitsandbytes replaces only torch.nn.Linear layers.
	Conv bool

	needDX    bool
	transient bool           // no Backward reads the output (KeepOutput(false))
	x         *tensor.Tensor // saved input: only while Weight is trainable
	y, dx     *tensor.Tensor
	yt        *tensor.Tensor // the output when transient
}

// NewLinear makes a Linear named name with zero f32 weights [out, in] (and a
// zero bias if bias). Loaders fill the values; a FanInFanOut layer gets its
// weight replaced by an [in, out] tensor.
func NewLinear(name string, in, out int, bias bool) *Linear {
	l := &Linear{name: name, In: in, Out: out, needDX: true}
	l.Weight = NewParam(join(name, "weight"), tensor.New(tensor.F32, out, in))
	if bias {
		l.Bias = NewParam(join(name, "bias"), tensor.New(tensor.F32, out))
	}
	return l
}

// Name implements Module.
func (l *Linear) Name() string { return l.name }

// Params implements Module.
func (l *Linear) Params() []*Param {
	if l.Bias != nil {
		return []*Param{l.Weight, l.Bias}
	}
	return []*Param{l.Weight}
}

// Children implements Module.
func (l *Linear) Children() []Module { return nil }

// SetInputGrad implements Layer.
func (l *Linear) SetInputGrad(need bool) { l.needDX = need }

// InputGrad reports whether Backward computes dx.
func (l *Linear) InputGrad() bool { return l.needDX }

// KeepOutput implements OutputKeeper: a kept output is an activation, a
// transient one lives in workspace that a model's blocks share.
func (l *Linear) KeepOutput(keep bool) { l.transient = !keep }

// NeedsInput implements InputReader: only dW reads the input.
func (l *Linear) NeedsInput() bool { return l.Weight.Trainable }

// weight returns W as a GEMM operand. The row stride comes from In/Out, not
// from the tensor's shape, so a weight stored with a richer shape (a patch
// embedding's [hidden, C, p, p]) is read as the matrix [hidden, C·p·p].
func (l *Linear) weight() kernels.Operand {
	ld := l.In
	if l.FanInFanOut {
		ld = l.Out
	}
	if l.Weight.Value.Len() != l.In*l.Out {
		panic(fmt.Sprintf("nn: %s: weight %v does not hold %dx%d values", l.name, l.Weight.Value, l.Out, l.In))
	}
	op := kernels.TensorOperand(l.Weight.Value)
	op.Stride = ld
	return op
}

// WeightOperand returns W as a GEMM operand in its storage dtype: [out, in]
// with row stride In, or [in, out] with stride Out when FanInFanOut. LoRA
// variants that multiply by the frozen weight themselves (DoRA) use it.
func (l *Linear) WeightOperand() kernels.Operand { return l.weight() }

func (l *Linear) rows(x *tensor.Tensor, what string) int {
	if x.Dim(-1) != l.In {
		panic(fmt.Sprintf("nn: %s: %s has last dimension %d, want in_features %d", l.name, what, x.Dim(-1), l.In))
	}
	return x.Len() / l.In
}

// Forward implements Layer.
func (l *Linear) Forward(x *tensor.Tensor) *tensor.Tensor {
	n := l.rows(x, "input")
	y := OutputBuffer(&l.y, &l.yt, l.transient, withLast(x.Shape(), l.Out)...)
	// y = x·Wᵀ ([n,in]·[in,out]); with FanInFanOut W is already [in,out].
	kernels.Gemm(false, !l.FanInFanOut, n, l.Out, l.In, 1, kernels.F32Operand(x.F32(), l.In), l.weight(), 0, y.F32(), l.Out)
	if l.Bias != nil {
		kernels.AddBias(y.F32(), l.Bias.Value.F32(), n, l.Out)
	}
	// Only dW needs the input; a frozen layer keeps no reference to it.
	if l.Weight.Trainable {
		l.x = x
	} else {
		l.x = nil
	}
	return y
}

// Backward implements Layer.
func (l *Linear) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if dy.Dim(-1) != l.Out {
		panic(fmt.Sprintf("nn: %s: dy has last dimension %d, want out_features %d", l.name, dy.Dim(-1), l.Out))
	}
	n := dy.Len() / l.Out
	g := dy.F32()
	if l.Weight.Trainable {
		if l.x == nil {
			panic(fmt.Sprintf("nn: %s: Backward before Forward with a trainable weight", l.name))
		}
		dw := l.Weight.Grad.F32()
		if l.FanInFanOut { // dW[in,out] += xᵀ·dy
			kernels.Sgemm(true, false, l.In, l.Out, n, 1, l.x.F32(), l.In, g, l.Out, 1, dw, l.Out)
		} else { // dW[out,in] += dyᵀ·x
			kernels.Sgemm(true, false, l.Out, l.In, n, 1, g, l.Out, l.x.F32(), l.In, 1, dw, l.In)
		}
	}
	if l.Bias != nil && l.Bias.Trainable {
		kernels.BiasBackward(l.Bias.Grad.F32(), g, n, l.Out)
	}
	if !l.needDX {
		return nil
	}
	l.dx = ReuseAs(memory.Workspace, l.dx, withLast(dy.Shape(), l.In)...)
	// dx = dy·W ([n,out]·[out,in]); with FanInFanOut W is [in,out]: dy·Wᵀ.
	kernels.Gemm(false, l.FanInFanOut, n, l.In, l.Out, 1, kernels.F32Operand(g, l.Out), l.weight(), 0, l.dx.F32(), l.In)
	return l.dx
}

// DequantizeWeight stores W in f32, exactly the values the GEMM has been
// widening it to, and returns the previous storage (nil when W was f32
// already), so that a caller can change W (merge an adapter into it) and
// later put the original back.
func (l *Linear) DequantizeWeight() *tensor.Tensor {
	w := l.Weight.Value
	if w.DType() == tensor.F32 {
		return nil
	}
	l.Weight.Value = w.To(tensor.F32)
	return w
}

// Buffers implements Buffered.
func (l *Linear) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&l.y}, []**tensor.Tensor{&l.dx, &l.yt}
}

// Plan implements Planner: y is an activation when kept, else transient;
// the backward computes dW only for a trainable weight and dx (workspace)
// only when asked.
func (l *Linear) Plan(in []int, backward bool) Cost {
	var c Cost
	n := tensor.NumElems(in) / l.In
	c.Output(l.name, !l.transient, n*l.Out)
	c.Forward = gemm(n, l.Out, l.In)
	w, dq := l.Weight.Value.DType(), l.Weight.Value.DoubleQuant()
	c.Ran(Op{Kernel: OpGemm, M: n, N: l.Out, K: l.In, TransB: !l.FanInFanOut, BType: w, DoubleQuant: dq})
	if l.Bias != nil {
		c.Ran(Rows(OpAddBias, n, l.Out))
	}
	if !backward {
		return c
	}
	if l.Weight.Trainable {
		c.BackwardDW = gemm(l.Out, l.In, n)
		if l.FanInFanOut {
			c.Ran(GemmOp(true, false, l.In, l.Out, n))
		} else {
			c.Ran(GemmOp(true, false, l.Out, l.In, n))
		}
	}
	if l.Bias != nil && l.Bias.Trainable {
		c.Ran(Rows(OpBiasBackward, n, l.Out))
	}
	if l.needDX {
		c.f32(memory.Workspace, n*l.In)
		c.BackwardDX = gemm(n, l.In, l.Out)
		c.Ran(Op{Kernel: OpGemm, M: n, N: l.In, K: l.Out, TransB: l.FanInFanOut, BType: w, DoubleQuant: dq})
	}
	return c
}
