package nn

import (
	"fmt"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// Embedding is torch.nn.Embedding: row ids[i] of Weight [num, dim] becomes
// output row i. A frozen table may be stored in bf16.
type Embedding struct {
	name     string
	Num, Dim int
	Weight   *Param

	ids []int32 // copy of the last ids, kept only while Weight is trainable
	y   *tensor.Tensor
}

// NewEmbedding returns an Embedding with a zero f32 table [num, dim].
func NewEmbedding(name string, num, dim int) *Embedding {
	return &Embedding{name: name, Num: num, Dim: dim, Weight: NewParam(join(name, "weight"), tensor.New(tensor.F32, num, dim))}
}

// Name implements Module.
func (e *Embedding) Name() string { return e.name }

// Params implements Module.
func (e *Embedding) Params() []*Param { return []*Param{e.Weight} }

// Children implements Module.
func (e *Embedding) Children() []Module { return nil }

// Forward looks up ids (of the given shape, e.g. [batch, seq]) and returns
// y of shape [shape..., Dim]. An id outside [0, Num) panics: token ids are
// checked where they are produced (the tokenizer or data set).
func (e *Embedding) Forward(ids []int32, shape ...int) *tensor.Tensor {
	if tensor.NumElems(shape) != len(ids) {
		panic(fmt.Sprintf("nn: %s: %d ids do not fill shape %v", e.name, len(ids), shape))
	}
	e.y = ReuseAs(memory.Activations, e.y, append(append([]int(nil), shape...), e.Dim)...)
	y := e.y.F32()
	for i, id := range ids {
		if id < 0 || int(id) >= e.Num {
			panic(fmt.Sprintf("nn: %s: id %d at position %d outside [0,%d)", e.name, id, i, e.Num))
		}
		row := y[i*e.Dim : (i+1)*e.Dim]
		lo, hi := int(id)*e.Dim, (int(id)+1)*e.Dim
		if w := e.Weight.Value; w.DType() == tensor.F32 {
			copy(row, w.F32()[lo:hi])
		} else { // a frozen table in bf16, fp16, int8 or NF4 (e.g. tied to a quantised head)
			w.Dequantize(row, lo)
		}
	}
	// Only the weight gradient needs the ids; a frozen table keeps nothing.
	if e.Weight.Trainable {
		e.ids = append(e.ids[:0], ids...)
	} else {
		e.ids = e.ids[:0]
	}
	return e.y
}

// Backward scatter-adds dy into the rows of Weight.Grad when the table is
// trainable. Token ids have no gradient, so nothing is returned.
func (e *Embedding) Backward(dy *tensor.Tensor) {
	if !e.Weight.Trainable {
		return
	}
	if dy.Len() != len(e.ids)*e.Dim {
		panic(fmt.Sprintf("nn: %s: dy %v does not match the %d ids of the last Forward", e.name, dy, len(e.ids)))
	}
	g, dw := dy.F32(), e.Weight.Grad.F32()
	for i, id := range e.ids {
		row := dw[int(id)*e.Dim : (int(id)+1)*e.Dim]
		for j, v := range g[i*e.Dim : (i+1)*e.Dim] {
			row[j] += v
		}
	}
}

// Buffers implements Buffered.
func (e *Embedding) Buffers() (act, work []**tensor.Tensor) { return []**tensor.Tensor{&e.y}, nil }

// Plan implements Planner for ids of shape in: y is an activation (the
// saved ids are int32 bookkeeping, not counted). Its ops are a row copy
// per id, and with a trainable table a row added into the gradient per id.
func (e *Embedding) Plan(in []int, backward bool) Cost {
	var c Cost
	n := tensor.NumElems(in)
	c.f32(memory.Activations, n*e.Dim)
	c.Run(Elementwise(OpCopy, e.Dim), int64(n))
	if backward && e.Weight.Trainable {
		c.Run(Elementwise(OpAddTo, e.Dim), int64(n))
	}
	return c
}
