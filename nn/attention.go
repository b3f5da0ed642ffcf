package nn

import (
	"fmt"
	"math"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// SelfAttention is multi-head self-attention with the projections as
// slots: the Hugging Face ViT/BERT layout (ViTSelfAttention,
// BertSelfAttention: query, key, value) and the LLaMA layout
// (LlamaAttention: q_proj, k_proj, v_proj and o_proj, grouped-query heads,
// rotary position embeddings, causal). The projections' outputs [B, T,
// heads·d] are split into heads by leading dimension, never copied; per
// head, probs = softmax(Q·Kᵀ/√d) over the keys the query may see (causal,
// and the attention Mask of padding), dropout on probs, context = probs·V
// written back into [B, T, heads·d], then the optional Output projection.
//
// With grouped-query attention (KVHeads < Heads) query head h reads
// key/value head h / (Heads/KVHeads), as transformers' repeat_kv. Rotary
// embeddings rotate Q and K in place in the projections' output buffers
// (nothing else reads them); the backward rotates dQ and dK back.
//
// Saved for the backward: of the slots' outputs Q, K, V (owned by the
// slots) those the backward reads (K for dQ, Q for dK, V for dP), and
// probs [B, heads, T, T] when any backward runs; the context only when the
// Output projection's backward (or, without one, the caller's) reads it.
// The dropout mask is regenerated, and the transient [B, heads, T, T]
// buffers live in Scratch, which the layers of a model may share because
// they run one after another.
//
// With a Cache (generation, evaluation mode only) Forward appends the new
// keys and values to it and attends over all cached tokens; the new tokens
// sit at positions Cache.Len… for the rotary embedding and the causal mask.
type SelfAttention struct {
	name    string
	Heads   int
	KVHeads int // key/value heads; equal to Heads unless grouped-query
	HeadDim int
	Causal  bool
	// Rotary, when set, applies rotary position embeddings to Q and K.
	Rotary *Rotary
	// Query, Key, Value and Output are slots: PEFT methods may replace
	// them. Output is nil when the model puts the output projection in a
	// module of its own (ViT, BERT).
	Query, Key, Value, Output Layer
	// Dropout is the attention-probability dropout ("<name>.dropout").
	Dropout *Dropout
	// Scratch holds the transient buffers; set it to share them.
	Scratch *AttentionScratch
	// Mask is the attention mask of the next Forward, [B, keys] (1: attend,
	// 0: padding), or nil; keys are the tokens, or with a Cache all cached
	// tokens including the new ones. The model sets it for each batch.
	Mask []int32
	// Cache, when set, holds the keys and values of earlier tokens.
	Cache *KVCache

	needDX    bool
	transient bool // no Backward reads the output (KeepOutput(false))
	b, t      int
	q, k, v   *tensor.Tensor
	p         *tensor.Tensor // the last probabilities: probs or probsT
	probs     *tensor.Tensor // kept for the backward
	probsT    *tensor.Tensor // when no backward reads them
	ctx, ctxT *tensor.Tensor // the context, kept or transient
	dq, dk    *tensor.Tensor
	dv, dx    *tensor.Tensor
}

// AttentionScratch is workspace for SelfAttention: dropped probabilities,
// and in the backward dP and dS, each [B, heads, T, T]. Nothing in it
// outlives a Forward or Backward call.
type AttentionScratch struct {
	a, b *tensor.Tensor
}

// AttentionConfig describes a SelfAttention for NewAttention.
type AttentionConfig struct {
	Hidden  int // input (and output) width
	Heads   int
	KVHeads int // 0: Heads
	HeadDim int // 0: Hidden/Heads
	// Names of the projections, children of the attention; Output "" for
	// none.
	Query, Key, Value, Output string
	Bias, OutputBias          bool // biases of query/key/value, of the output
	Dropout                   float32
	Seed                      uint64
	Causal                    bool
}

// NewAttention returns an attention with zero projections as c describes,
// or an error naming the inconsistent size.
func NewAttention(name string, c AttentionConfig) (*SelfAttention, error) {
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.Heads <= 0 || c.KVHeads <= 0 || c.Hidden <= 0 {
		return nil, fmt.Errorf("nn: %s: hidden %d, %d heads, %d key/value heads: all must be positive", name, c.Hidden, c.Heads, c.KVHeads)
	}
	if c.HeadDim == 0 {
		if c.Hidden%c.Heads != 0 {
			return nil, fmt.Errorf("nn: %s: hidden size %d is not a multiple of %d heads", name, c.Hidden, c.Heads)
		}
		c.HeadDim = c.Hidden / c.Heads
	}
	if c.HeadDim <= 0 {
		return nil, fmt.Errorf("nn: %s: head dimension %d", name, c.HeadDim)
	}
	if c.Heads%c.KVHeads != 0 {
		return nil, fmt.Errorf("nn: %s: %d heads are not a multiple of %d key/value heads", name, c.Heads, c.KVHeads)
	}
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	s := &SelfAttention{
		name: name, Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim, Causal: c.Causal, needDX: true,
		Query:   NewLinear(join(name, c.Query), c.Hidden, q, c.Bias),
		Key:     NewLinear(join(name, c.Key), c.Hidden, kv, c.Bias),
		Value:   NewLinear(join(name, c.Value), c.Hidden, kv, c.Bias),
		Dropout: NewDropout(join(name, "dropout"), c.Dropout, c.Seed),
		Scratch: &AttentionScratch{},
	}
	if c.Output != "" {
		s.Output = NewLinear(join(name, c.Output), q, c.Hidden, c.OutputBias)
	}
	return s, nil
}

// NewSelfAttention returns attention over hidden = heads·d features with
// zero query/key/value Linears (with biases if bias) and attention dropout
// p, as ViT and BERT have it. It panics if heads does not divide hidden
// (configs check this first).
func NewSelfAttention(name string, hidden, heads int, bias bool, p float32, seed uint64) *SelfAttention {
	s, err := NewAttention(name, AttentionConfig{Hidden: hidden, Heads: heads, Query: "query", Key: "key", Value: "value", Bias: bias, Dropout: p, Seed: seed})
	if err != nil {
		panic(err.Error())
	}
	return s
}

// Name implements Module.
func (s *SelfAttention) Name() string { return s.name }

// Params implements Module.
func (s *SelfAttention) Params() []*Param { return nil }

// Children implements Module.
func (s *SelfAttention) Children() []Module {
	if s.Output != nil {
		return []Module{s.Query, s.Key, s.Value, s.Output, s.Dropout}
	}
	return []Module{s.Query, s.Key, s.Value, s.Dropout}
}

// Slots implements Slotted.
func (s *SelfAttention) Slots() []Slot {
	sl := []Slot{
		{Name: s.Query.Name(), Layer: &s.Query},
		{Name: s.Key.Name(), Layer: &s.Key},
		{Name: s.Value.Name(), Layer: &s.Value},
	}
	if s.Output != nil {
		sl = append(sl, Slot{Name: s.Output.Name(), Layer: &s.Output})
	}
	return sl
}

// SetInputGrad implements Layer.
func (s *SelfAttention) SetInputGrad(need bool) { s.needDX = need }

// KeepOutput implements OutputKeeper.
func (s *SelfAttention) KeepOutput(keep bool) { s.transient = !keep }

// NeedsInput implements InputReader: x is read by the backward of the
// projections the backward goes through.
func (s *SelfAttention) NeedsInput() bool {
	needQ, needK, needV := s.prepare()
	return needQ && NeedsInput(s.Query) || needK && NeedsInput(s.Key) || needV && NeedsInput(s.Value)
}

// Probs returns the attention probabilities [B, heads, T, keys] of the last
// Forward (before dropout).
func (s *SelfAttention) Probs() *tensor.Tensor { return s.p }

func (s *SelfAttention) hidden() int { return s.Heads * s.HeadDim }

func (s *SelfAttention) kvHeads() int {
	if s.KVHeads == 0 {
		return s.Heads
	}
	return s.KVHeads
}

// Forward maps x [B, T, hidden] to the context [B, T, heads·d], or through
// Output to [B, T, hidden].
func (s *SelfAttention) Forward(x *tensor.Tensor) *tensor.Tensor {
	if len(x.Shape()) != 3 {
		panic(fmt.Sprintf("nn: %s: input %v is not [batch, seq, hidden]", s.name, x))
	}
	B, T := x.Dim(0), x.Dim(1)
	nh, nkv, d := s.Heads, s.kvHeads(), s.HeadDim
	ldq, ldkv := nh*d, nkv*d
	s.b, s.t = B, T
	needQ, needK, needV := s.prepare()
	s.q, s.k, s.v = s.Query.Forward(x), s.Key.Forward(x), s.Value.Forward(x)
	for i, y := range []*tensor.Tensor{s.q, s.k, s.v} {
		if want := B * T * []int{ldq, ldkv, ldkv}[i]; y.Len() != want {
			panic(fmt.Sprintf("nn: %s: projection output %v, want %d values", s.name, y, want))
		}
	}
	pos0 := 0
	if s.Cache != nil {
		pos0 = s.Cache.Len
	}
	Q := s.q.F32()
	if s.Rotary != nil {
		cos, sin := s.Rotary.Tables(pos0 + T)
		kernels.RotaryForward(Q, B*T, T, pos0, nh, d, ldq, cos, sin, false)
		kernels.RotaryForward(s.k.F32(), B*T, T, pos0, nkv, d, ldkv, cos, sin, false)
	}
	K, V, Tk, kstride := s.k.F32(), s.v.F32(), T, T*ldkv
	if s.Cache != nil {
		K, V, Tk, kstride = s.Cache.add(s.name, s.k.F32(), s.v.F32(), B, T)
	}
	if s.Mask != nil && len(s.Mask) != B*Tk {
		panic(fmt.Sprintf("nn: %s: attention mask of %d values for %d sequences of %d keys", s.name, len(s.Mask), B, Tk))
	}
	rep, tt := nh/nkv, T*Tk
	s.p = OutputBuffer(&s.probs, &s.probsT, !(needQ || needK || needV) || s.Cache != nil, B, nh, T, Tk)
	P := s.p.F32()
	// Scores per (batch, head): Q_bh·K_bhᵀ, heads addressed by offset and
	// leading dimension.
	kernels.ParallelFor(B*nh, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/nh, bh%nh
			kernels.GemmSerial(false, true, T, Tk, d, 1, kernels.F32Operand(Q[b*T*ldq+h*d:], ldq),
				kernels.F32Operand(K[b*kstride+(h/rep)*d:], ldkv), 0, P[bh*tt:], Tk)
		}
	})
	scale := float32(1 / math.Sqrt(float64(d)))
	kernels.SoftmaxAttention(P, P, B*nh*T, Tk, T, scale, s.Causal, s.Mask, nh)
	use := P
	s.Dropout.masked = s.Dropout.Active()
	if s.Dropout.masked {
		s.Scratch.a = ReuseAs(memory.Workspace, s.Scratch.a, B, nh, T, Tk)
		use = s.Scratch.a.F32()
		kernels.DropoutForward(use, P, s.Dropout.P, s.Dropout.next(), s.Dropout.Offset(len(P)))
	}
	ctx := OutputBuffer(&s.ctx, &s.ctxT, !s.keepContext(), B, T, ldq)
	C := ctx.F32()
	kernels.ParallelFor(B*nh, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/nh, bh%nh
			kernels.GemmSerial(false, false, T, d, Tk, 1, kernels.F32Operand(use[bh*tt:], Tk),
				kernels.F32Operand(V[b*kstride+(h/rep)*d:], ldkv), 0, C[b*T*ldq+h*d:], ldq)
		}
	})
	if s.Output != nil {
		return s.Output.Forward(ctx)
	}
	return ctx
}

// keepContext is whether a backward reads the context: the Output
// projection's, or without one the caller's (KeepOutput).
func (s *SelfAttention) keepContext() bool {
	if s.Output != nil {
		return NeedsInput(s.Output)
	}
	return !s.transient
}

// Backward takes dL/doutput and returns dL/dx (nil when input gradients
// are off). It computes dQ, dK, dV only for slots that need them: a slot
// needs its output gradient when it holds a trainable parameter or when dx
// is wanted.
func (s *SelfAttention) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if s.p == nil {
		panic(fmt.Sprintf("nn: %s: Backward before Forward", s.name))
	}
	if s.Cache != nil {
		panic(fmt.Sprintf("nn: %s: Backward with a KV cache (generation is inference only)", s.name))
	}
	B, T := s.b, s.t
	nh, nkv, d := s.Heads, s.kvHeads(), s.HeadDim
	ldq, ldkv := nh*d, nkv*d
	needQ, needK, needV := s.prepare()
	dctx := dy
	if s.Output != nil {
		if dctx = s.Output.Backward(dy); dctx == nil {
			return nil
		}
	}
	if !needQ && !needK && !needV {
		return nil
	}
	if dctx.Len() != B*T*ldq {
		panic(fmt.Sprintf("nn: %s: dcontext %v, want [%d %d %d]", s.name, dctx, B, T, ldq))
	}
	if s.p != s.probs {
		panic(fmt.Sprintf("nn: %s: Backward after a Forward that kept no probabilities", s.name))
	}
	rep, tt := nh/nkv, T*T
	Q, K, V, P, G := s.q.F32(), s.k.F32(), s.v.F32(), s.p.F32(), dctx.F32()
	use := P
	if s.Dropout.masked { // regenerate the dropped probabilities
		s.Scratch.a = ReuseAs(memory.Workspace, s.Scratch.a, B, nh, T, T)
		use = s.Scratch.a.F32()
		kernels.DropoutForward(use, P, s.Dropout.P, s.Dropout.key, s.Dropout.Offset(len(P)))
	}
	var dV, dP []float32
	if needV {
		s.dv = ReuseAs(memory.Workspace, s.dv, B, T, ldkv)
		dV = s.dv.F32()
	}
	if needQ || needK {
		s.Scratch.b = ReuseAs(memory.Workspace, s.Scratch.b, B, nh, T, T)
		dP = s.Scratch.b.F32()
	}
	// By key/value head, so that the heads of a group add into their
	// shared dK and dV in turn.
	kernels.ParallelFor(B*nkv, func(lo, hi int) {
		for bk := lo; bk < hi; bk++ {
			b, hk := bk/nkv, bk%nkv
			koff := b*T*ldkv + hk*d
			for g := 0; g < rep; g++ {
				h := hk*rep + g
				bh, qoff := b*nh+h, b*T*ldq+h*d
				if dV != nil { // dV += Pᵀ·dctx
					kernels.GemmSerial(true, false, T, d, T, 1, kernels.F32Operand(use[bh*tt:], T), kernels.F32Operand(G[qoff:], ldq), beta(g), dV[koff:], ldkv)
				}
				if dP != nil { // dP = dctx·Vᵀ
					kernels.GemmSerial(false, true, T, T, d, 1, kernels.F32Operand(G[qoff:], ldq), kernels.F32Operand(V[koff:], ldkv), 0, dP[bh*tt:], T)
				}
			}
		}
	})
	scale := float32(1 / math.Sqrt(float64(d)))
	if dP != nil {
		if s.Dropout.masked { // through the dropout: the same mask, in place
			kernels.DropoutForward(dP, dP, s.Dropout.P, s.Dropout.key, s.Dropout.Offset(len(dP)))
		}
		// dS into scratch a (the dropped probabilities are no longer needed).
		s.Scratch.a = ReuseAs(memory.Workspace, s.Scratch.a, B, nh, T, T)
		dS := s.Scratch.a.F32()
		clear(dS)
		kernels.SoftmaxBackward(dS, P, dP, B*nh*T, T, scale)
		var dQ, dK []float32
		if needQ {
			s.dq = ReuseAs(memory.Workspace, s.dq, B, T, ldq)
			dQ = s.dq.F32()
		}
		if needK {
			s.dk = ReuseAs(memory.Workspace, s.dk, B, T, ldkv)
			dK = s.dk.F32()
		}
		kernels.ParallelFor(B*nkv, func(lo, hi int) {
			for bk := lo; bk < hi; bk++ {
				b, hk := bk/nkv, bk%nkv
				koff := b*T*ldkv + hk*d
				for g := 0; g < rep; g++ {
					h := hk*rep + g
					bh, qoff := b*nh+h, b*T*ldq+h*d
					if dQ != nil { // dQ = dS·K
						kernels.GemmSerial(false, false, T, d, T, 1, kernels.F32Operand(dS[bh*tt:], T), kernels.F32Operand(K[koff:], ldkv), 0, dQ[qoff:], ldq)
					}
					if dK != nil { // dK += dSᵀ·Q
						kernels.GemmSerial(true, false, T, d, T, 1, kernels.F32Operand(dS[bh*tt:], T), kernels.F32Operand(Q[qoff:], ldq), beta(g), dK[koff:], ldkv)
					}
				}
			}
		})
		if s.Rotary != nil { // back through the rotation: its inverse
			cos, sin := s.Rotary.Tables(T)
			if dQ != nil {
				kernels.RotaryForward(dQ, B*T, T, 0, nh, d, ldq, cos, sin, true)
			}
			if dK != nil {
				kernels.RotaryForward(dK, B*T, T, 0, nkv, d, ldkv, cos, sin, true)
			}
		}
	}
	// Through the projections; the input gradient is the sum of theirs.
	var dxs []*tensor.Tensor
	for _, st := range []struct {
		need bool
		l    Layer
		g    *tensor.Tensor
	}{{needQ, s.Query, s.dq}, {needK, s.Key, s.dk}, {needV, s.Value, s.dv}} {
		if !st.need {
			continue
		}
		if r := st.l.Backward(st.g); r != nil {
			dxs = append(dxs, r)
		}
	}
	if !s.needDX || len(dxs) == 0 {
		return nil
	}
	s.dx = ReuseAs(memory.Workspace, s.dx, dxs[0].Shape()...)
	if len(dxs) == 1 {
		copy(s.dx.F32(), dxs[0].F32())
		return s.dx
	}
	kernels.Add(s.dx.F32(), dxs[0].F32(), dxs[1].F32())
	for _, r := range dxs[2:] {
		kernels.AddTo(s.dx.F32(), r.F32())
	}
	return s.dx
}

// beta is 0 for the first head of a group (overwrite) and 1 for the others
// (accumulate).
func beta(g int) float32 {
	if g == 0 {
		return 0
	}
	return 1
}

// prepare decides which projections the Backward goes through (a slot
// needs its output gradient when it trains or when dx is wanted) and sets
// their input-gradient flags, and which outputs the backward reads (dQ =
// dS·K, dK = dSᵀ·Q, dP = dctx·Vᵀ; the output projection's input); Forward,
// Backward and Plan share it.
func (s *SelfAttention) prepare() (needQ, needK, needV bool) {
	needQ = s.needDX || HasTrainable(s.Query)
	needK = s.needDX || HasTrainable(s.Key)
	needV = s.needDX || HasTrainable(s.Value)
	for _, l := range []Layer{s.Query, s.Key, s.Value} {
		l.SetInputGrad(s.needDX)
	}
	KeepOutput(s.Query, needK)
	KeepOutput(s.Key, needQ)
	KeepOutput(s.Value, needQ || needK)
	if s.Output != nil {
		s.Output.SetInputGrad(needQ || needK || needV)
		KeepOutput(s.Output, !s.transient)
	}
	return needQ, needK, needV
}

// Buffers implements Buffered (the scratch is shared separately).
func (s *SelfAttention) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&s.probs, &s.ctx}, []**tensor.Tensor{&s.dq, &s.dk, &s.dv, &s.dx, &s.probsT, &s.ctxT}
}

// Plan implements Planner for x [B, T, hidden] (no cache): probs and the
// context are activations when a backward reads them, else transient; dQ,
// dK, dV, dx are workspace; the [B, heads, T, T] scratch is Shared, since a
// model's blocks share one.
func (s *SelfAttention) Plan(in []int, backward bool) Cost {
	B, T := in[0], in[1]
	nh, nkv, d := s.Heads, s.kvHeads(), s.HeadDim
	ldq, ldkv := nh*d, nkv*d
	probs := B * nh * T * T
	var c Cost
	needQ, needK, needV := s.prepare()
	if needQ || needK || needV {
		c.Slot(s.name+"#probs", memory.Activations, probs)
	} else {
		c.Slot(s.name+"#probsT", memory.Workspace, probs)
	}
	if s.keepContext() {
		c.Slot(s.name+"#ctx", memory.Activations, B*T*ldq)
	} else {
		c.Slot(s.name+"#ctxT", memory.Workspace, B*T*ldq)
	}
	c.Forward = int64(B*nh) * (gemm(T, T, d) + gemm(T, d, T))
	// The per-head products: heads are addressed in [B, T, heads·d] by
	// offset and leading dimension, the scores are dense [T, T].
	head := func(transA, transB bool, m, n, k, lda, ldb, ldc int) Op {
		return Op{Kernel: OpGemmBatch, M: m, N: n, K: k, TransA: transA, TransB: transB, LdA: lda, LdB: ldb, LdC: ldc, BType: tensor.F32, Batch: B * nh}
	}
	if s.Rotary != nil {
		c.Ran(rotaryOp(B*T, ldq, d))
		c.Ran(rotaryOp(B*T, ldkv, d))
	}
	c.Ran(head(false, true, T, T, d, ldq, ldkv, T)) // Q·Kᵀ
	c.Ran(Op{Kernel: OpSoftmax, M: B * nh * T, N: T, Causal: s.Causal})
	if s.Dropout.Active() {
		c.Ran(Elementwise(OpDropout, probs))
	}
	c.Ran(head(false, false, T, d, T, T, ldkv, ldq)) // P·V
	var scratchA, scratchB bool
	scratchA = s.Dropout.Active()
	needQ, needK, needV = needQ && backward, needK && backward, needV && backward
	if (needQ || needK || needV) && s.Dropout.Active() {
		c.Ran(Elementwise(OpDropout, probs)) // the dropped probabilities again
	}
	if needV {
		c.f32(memory.Workspace, B*T*ldkv)
		c.BackwardDX += int64(B*nh) * gemm(T, d, T)
		c.Ran(head(true, false, T, d, T, T, ldq, ldkv)) // dV (+)= Pᵀ·dctx
	}
	if needQ || needK {
		scratchA, scratchB = true, true
		c.BackwardDX += int64(B*nh) * gemm(T, T, d)
		c.Ran(head(false, true, T, T, d, ldq, ldkv, T)) // dP = dctx·Vᵀ
		if s.Dropout.Active() {
			c.Ran(Elementwise(OpDropout, probs))
		}
		c.Ran(Elementwise(OpClear, probs))
		c.Ran(Rows(OpSoftmaxBackward, B*nh*T, T))
	}
	if needQ {
		c.f32(memory.Workspace, B*T*ldq)
		c.BackwardDX += int64(B*nh) * gemm(T, d, T)
		c.Ran(head(false, false, T, d, T, T, ldkv, ldq)) // dQ = dS·K
		if s.Rotary != nil {
			c.Ran(rotaryOp(B*T, ldq, d))
		}
	}
	if needK {
		c.f32(memory.Workspace, B*T*ldkv)
		c.BackwardDX += int64(B*nh) * gemm(T, d, T)
		c.Ran(head(true, false, T, d, T, T, ldq, ldkv)) // dK (+)= dSᵀ·Q
		if s.Rotary != nil {
			c.Ran(rotaryOp(B*T, ldkv, d))
		}
	}
	if backward && s.needDX {
		n := tensor.NumElems(in)
		c.f32(memory.Workspace, n)
		// needDX sends all three projections' dx: their sum.
		c.Ran(Elementwise(OpAdd, n))
		c.Ran(Elementwise(OpAddTo, n))
	}
	c.Attention = c.Forward + c.BackwardDX
	if scratchA {
		c.Shared[memory.Workspace] += 4 * int64(probs)
	}
	if scratchB {
		c.Shared[memory.Workspace] += 4 * int64(probs)
	}
	if s.Output != nil {
		c = c.Plus(PlanOf(s.Output, []int{B, T, ldq}, backward))
	}
	for _, st := range []struct {
		need bool
		l    Layer
	}{{needQ, s.Query}, {needK, s.Key}, {needV, s.Value}} {
		c = c.Plus(PlanOf(st.l, in, st.need))
	}
	return c
}

// rotaryOp is one RotaryForward over tokens rows of width values in heads
// of d.
func rotaryOp(tokens, width, d int) Op { return Op{Kernel: OpRotary, M: tokens, N: width, K: d} }
