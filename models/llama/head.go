package llama

import (
	"fmt"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// TiedHead is lm_head when tie_word_embeddings is set: logits = x ·
// embed_tokens.weightᵀ. It owns no parameter (the embedding's is listed
// once, under model.embed_tokens), and adds its weight gradient into the
// embedding's when that trains.
type TiedHead struct {
	name   string
	Weight *nn.Param // model.embed_tokens.weight [vocab, hidden]

	needDX bool
	x      *tensor.Tensor // saved input, while the weight trains
	y, dx  *tensor.Tensor
}

// Name implements nn.Module.
func (h *TiedHead) Name() string { return h.name }

// Params implements nn.Module: none of its own.
func (h *TiedHead) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (h *TiedHead) Children() []nn.Module { return nil }

// SetInputGrad implements nn.Layer.
func (h *TiedHead) SetInputGrad(need bool) { h.needDX = need }

func (h *TiedHead) dims() (vocab, hidden int) { return h.Weight.Value.Dim(0), h.Weight.Value.Dim(1) }

// Forward implements nn.Layer.
func (h *TiedHead) Forward(x *tensor.Tensor) *tensor.Tensor {
	v, d := h.dims()
	if x.Dim(-1) != d {
		panic(fmt.Sprintf("llama: %s: input has last dimension %d, want %d", h.name, x.Dim(-1), d))
	}
	n := x.Len() / d
	sh := append(append([]int(nil), x.Shape()[:len(x.Shape())-1]...), v)
	h.y = nn.ReuseAs(memory.Activations, h.y, sh...)
	kernels.Gemm(false, true, n, v, d, 1, kernels.F32Operand(x.F32(), d), kernels.TensorOperand(h.Weight.Value), 0, h.y.F32(), v)
	h.x = nil
	if h.Weight.Trainable {
		h.x = x
	}
	return h.y
}

// Backward implements nn.Layer.
func (h *TiedHead) Backward(dy *tensor.Tensor) *tensor.Tensor {
	v, d := h.dims()
	n := dy.Len() / v
	if h.Weight.Trainable { // dW[v, d] += dyᵀ·x
		kernels.Sgemm(true, false, v, d, n, 1, dy.F32(), v, h.x.F32(), d, 1, h.Weight.Grad.F32(), d)
	}
	if !h.needDX {
		return nil
	}
	sh := append(append([]int(nil), dy.Shape()[:len(dy.Shape())-1]...), d)
	h.dx = nn.ReuseAs(memory.Workspace, h.dx, sh...)
	kernels.Gemm(false, false, n, d, v, 1, kernels.F32Operand(dy.F32(), v), kernels.TensorOperand(h.Weight.Value), 0, h.dx.F32(), d)
	return h.dx
}

// Buffers implements nn.Buffered.
func (h *TiedHead) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&h.y}, []**tensor.Tensor{&h.dx}
}

// Plan implements nn.Planner, as a Linear without bias.
func (h *TiedHead) Plan(in []int, backward bool) nn.Cost {
	v, d := h.dims()
	n := tensor.NumElems(in) / d
	var c nn.Cost
	w := h.Weight.Value.DType()
	c.Bytes[memory.Activations] = 4 * int64(n*v)
	c.Forward = nn.GemmFLOPs(n, v, d)
	c.Ran(nn.Op{Kernel: nn.OpGemm, M: n, N: v, K: d, TransB: true, BType: w})
	if !backward {
		return c
	}
	if h.Weight.Trainable {
		c.BackwardDW = nn.GemmFLOPs(v, d, n)
		c.Ran(nn.GemmOp(true, false, v, d, n))
	}
	if h.needDX {
		c.Bytes[memory.Workspace] = 4 * int64(n*d)
		c.BackwardDX = nn.GemmFLOPs(n, d, v)
		c.Ran(nn.Op{Kernel: nn.OpGemm, M: n, N: d, K: v, BType: w})
	}
	return c
}
