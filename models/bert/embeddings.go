package bert

import (
	"fmt"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Embeddings is BertEmbeddings: word + position (absolute, 0…T-1) +
// token-type embeddings, summed in one pass into one buffer, then
// LayerNorm and dropout. The three tables are nn.Embedding modules with
// HF's names ("bert.embeddings.word_embeddings", …); their gradients,
// when they train, are scattered from the LayerNorm's input gradient.
type Embeddings struct {
	name                 string
	Word, Position, Type *nn.Embedding
	LayerNorm            *nn.LayerNorm
	Dropout              *nn.Dropout

	ids, types []int32 // the last ids and token types, while a table trains
	b, t       int
	sum        *tensor.Tensor // [B, T, H], the LayerNorm's input
}

func newEmbeddings(name string, c *Config, seed uint64) *Embeddings {
	h := c.HiddenSize
	return &Embeddings{
		name:      name,
		Word:      nn.NewEmbedding(nn.Join(name, "word_embeddings"), c.VocabSize, h),
		Position:  nn.NewEmbedding(nn.Join(name, "position_embeddings"), c.MaxPositionEmbeddings, h),
		Type:      nn.NewEmbedding(nn.Join(name, "token_type_embeddings"), c.TypeVocabSize, h),
		LayerNorm: nn.NewLayerNorm(nn.Join(name, "LayerNorm"), h, float32(c.LayerNormEps)),
		Dropout:   nn.NewDropout(nn.Join(name, "dropout"), float32(c.HiddenDropoutProb), seed),
	}
}

// Name implements nn.Module.
func (e *Embeddings) Name() string { return e.name }

// Params implements nn.Module.
func (e *Embeddings) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (e *Embeddings) Children() []nn.Module {
	return []nn.Module{e.Word, e.Position, e.Type, e.LayerNorm, e.Dropout}
}

func (e *Embeddings) tablesTrain() bool {
	return e.Word.Weight.Trainable || e.Position.Weight.Trainable || e.Type.Weight.Trainable
}

// row returns row id of table (f32 or bf16) widened into dst, or adds it.
func row(p *nn.Param, id, dim int, dst []float32, add bool) {
	v := p.Value
	lo := id * dim
	if v.DType() == tensor.BF16 {
		src := v.BF16()[lo : lo+dim]
		for j := range dst {
			x := tensor.F32FromBF16(src[j])
			if add {
				dst[j] += x
			} else {
				dst[j] = x
			}
		}
		return
	}
	src := v.F32()[lo : lo+dim]
	if !add {
		copy(dst, src)
		return
	}
	for j := range dst {
		dst[j] += src[j]
	}
}

// Forward maps ids [B, T] and token types (nil: all 0) to [B, T, H].
func (e *Embeddings) Forward(ids, types []int32, B, T int) *tensor.Tensor {
	H := e.Word.Dim
	if len(ids) != B*T || (types != nil && len(types) != B*T) {
		panic(fmt.Sprintf("bert: %d ids and %d token types for %d×%d tokens", len(ids), len(types), B, T))
	}
	if T > e.Position.Num {
		panic(fmt.Sprintf("bert: %d tokens exceed max_position_embeddings %d", T, e.Position.Num))
	}
	e.b, e.t = B, T
	e.sum = nn.ReuseAs(memory.Activations, e.sum, B, T, H)
	s := e.sum.F32()
	for i, id := range ids {
		if id < 0 || int(id) >= e.Word.Num {
			panic(fmt.Sprintf("bert: token id %d at position %d outside the vocabulary of %d", id, i, e.Word.Num))
		}
		tt := 0
		if types != nil {
			tt = int(types[i])
			if tt < 0 || tt >= e.Type.Num {
				panic(fmt.Sprintf("bert: token type %d at position %d outside [0,%d)", tt, i, e.Type.Num))
			}
		}
		dst := s[i*H : (i+1)*H]
		row(e.Word.Weight, int(id), H, dst, false)
		row(e.Position.Weight, i%T, H, dst, true)
		row(e.Type.Weight, tt, H, dst, true)
	}
	e.ids, e.types = e.ids[:0], e.types[:0]
	if e.tablesTrain() {
		e.ids = append(e.ids, ids...)
		if types != nil {
			e.types = append(e.types, types...)
		}
	}
	return e.Dropout.Forward(e.LayerNorm.Forward(e.sum))
}

// Backward takes dL/d(embeddings output) and accumulates the gradients of
// the trainable tables and LayerNorm. Token ids have no gradient.
func (e *Embeddings) Backward(dy *tensor.Tensor) {
	if !e.tablesTrain() && !nn.HasTrainable(e.LayerNorm) {
		return
	}
	e.Dropout.SetInputGrad(true)
	e.LayerNorm.SetInputGrad(e.tablesTrain())
	g := e.LayerNorm.Backward(e.Dropout.Backward(dy))
	if g == nil {
		return
	}
	H, T := e.Word.Dim, e.t
	gs := g.F32()
	for i := range e.b * T {
		gr := gs[i*H : (i+1)*H]
		if e.Word.Weight.Trainable {
			addRow(e.Word.Weight.Grad.F32()[int(e.ids[i])*H:], gr)
		}
		if e.Position.Weight.Trainable {
			addRow(e.Position.Weight.Grad.F32()[(i%T)*H:], gr)
		}
		if e.Type.Weight.Trainable {
			tt := 0
			if len(e.types) > 0 {
				tt = int(e.types[i])
			}
			addRow(e.Type.Weight.Grad.F32()[tt*H:], gr)
		}
	}
}

func addRow(dst, src []float32) {
	dst = dst[:len(src)]
	for j, v := range src {
		dst[j] += v
	}
}

// Buffers implements nn.Buffered.
func (e *Embeddings) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&e.sum}, nil
}

// Plan implements nn.Planner for ids [B, T].
func (e *Embeddings) Plan(in []int, backward bool) nn.Cost {
	B, T, H := in[0], in[1], e.Word.Dim
	seq := []int{B, T, H}
	var c nn.Cost
	c.Bytes[memory.Activations] = 4 * int64(B*T*H)
	c.Run(nn.Elementwise(nn.OpCopy, H), int64(B*T))    // word rows
	c.Run(nn.Elementwise(nn.OpAddTo, H), int64(2*B*T)) // position and type rows
	bw := backward && (e.tablesTrain() || nn.HasTrainable(e.LayerNorm))
	if bw {
		e.Dropout.SetInputGrad(true)
		e.LayerNorm.SetInputGrad(e.tablesTrain())
		for _, t := range []*nn.Embedding{e.Word, e.Position, e.Type} {
			if t.Weight.Trainable { // the gradient scattered into its rows
				c.Run(nn.Elementwise(nn.OpAddTo, H), int64(B*T))
			}
		}
	}
	c = c.Plus(e.LayerNorm.Plan(seq, bw))
	return c.Plus(e.Dropout.Plan(seq, bw))
}
