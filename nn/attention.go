package nn

import (
	"fmt"
	"math"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// SelfAttention is multi-head self-attention in the Hugging Face ViT/BERT
// layout (ViTSelfAttention, BertSelfAttention): query, key and value Linears
// whose outputs [B, T, heads·d] are split into heads by leading dimension,
// never copied; per head, probs = softmax(Q·Kᵀ/√d) (optionally causal),
// dropout on probs, context = probs·V written back into [B, T, heads·d].
//
// Saved for the backward: of the slots' outputs Q, K, V (owned by the
// slots) those the backward reads (K for dQ, Q for dK, V for dP), and
// probs [B, heads, T, T] when any backward runs. The dropout mask is
// regenerated, and the transient [B, heads, T, T] buffers live in Scratch,
// which the layers of a model may share because they run one after
// another.
type SelfAttention struct {
	name    string
	Heads   int
	HeadDim int
	Causal  bool
	// Query, Key and Value are slots: PEFT methods may replace them.
	Query, Key, Value Layer
	// Dropout is the attention-probability dropout ("<name>.dropout").
	Dropout *Dropout
	// Scratch holds the transient buffers; set it to share them.
	Scratch *AttentionScratch

	needDX    bool
	transient bool // no Backward reads the context (KeepOutput(false))
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

// NewSelfAttention returns attention over hidden = heads·d features with
// zero query/key/value Linears (with biases if bias) and attention dropout
// p. It panics if heads does not divide hidden (configs check this first).
func NewSelfAttention(name string, hidden, heads int, bias bool, p float32, seed uint64) *SelfAttention {
	if heads <= 0 || hidden%heads != 0 {
		panic(fmt.Sprintf("nn: %s: hidden size %d is not a multiple of %d heads", name, hidden, heads))
	}
	return &SelfAttention{
		name: name, Heads: heads, HeadDim: hidden / heads, needDX: true,
		Query:   NewLinear(join(name, "query"), hidden, hidden, bias),
		Key:     NewLinear(join(name, "key"), hidden, hidden, bias),
		Value:   NewLinear(join(name, "value"), hidden, hidden, bias),
		Dropout: NewDropout(join(name, "dropout"), p, seed),
		Scratch: &AttentionScratch{},
	}
}

// Name implements Module.
func (s *SelfAttention) Name() string { return s.name }

// Params implements Module.
func (s *SelfAttention) Params() []*Param { return nil }

// Children implements Module.
func (s *SelfAttention) Children() []Module {
	return []Module{s.Query, s.Key, s.Value, s.Dropout}
}

// Slots implements Slotted.
func (s *SelfAttention) Slots() []Slot {
	return []Slot{
		{Name: s.Query.Name(), Layer: &s.Query},
		{Name: s.Key.Name(), Layer: &s.Key},
		{Name: s.Value.Name(), Layer: &s.Value},
	}
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

// Probs returns the attention probabilities [B, heads, T, T] of the last
// Forward (before dropout).
func (s *SelfAttention) Probs() *tensor.Tensor { return s.p }

func (s *SelfAttention) hidden() int { return s.Heads * s.HeadDim }

// Forward maps x [B, T, hidden] to the context [B, T, hidden].
func (s *SelfAttention) Forward(x *tensor.Tensor) *tensor.Tensor {
	if len(x.Shape()) != 3 {
		panic(fmt.Sprintf("nn: %s: input %v is not [batch, seq, hidden]", s.name, x))
	}
	B, T, H := x.Dim(0), x.Dim(1), s.hidden()
	s.b, s.t = B, T
	needQ, needK, needV := s.prepare()
	s.q, s.k, s.v = s.Query.Forward(x), s.Key.Forward(x), s.Value.Forward(x)
	for _, y := range []*tensor.Tensor{s.q, s.k, s.v} {
		if y.Len() != B*T*H {
			panic(fmt.Sprintf("nn: %s: projection output %v, want [%d %d %d]", s.name, y, B, T, H))
		}
	}
	nh, d, tt := s.Heads, s.HeadDim, T*T
	Q, K, V := s.q.F32(), s.k.F32(), s.v.F32()
	s.p = OutputBuffer(&s.probs, &s.probsT, !(needQ || needK || needV), B, nh, T, T)
	P := s.p.F32()
	// Scores per (batch, head): Q_bh·K_bhᵀ, heads addressed by offset h·d
	// and leading dimension H.
	kernels.ParallelFor(B*nh, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			off := (bh/nh)*T*H + (bh%nh)*d
			kernels.GemmSerial(false, true, T, T, d, 1, kernels.F32Operand(Q[off:], H), kernels.F32Operand(K[off:], H), 0, P[bh*tt:], T)
		}
	})
	scale := float32(1 / math.Sqrt(float64(d)))
	kernels.SoftmaxForward(P, P, B*nh*T, T, scale, s.Causal)
	use := P
	s.Dropout.masked = s.Dropout.Active()
	if s.Dropout.masked {
		s.Scratch.a = ReuseAs(memory.Workspace, s.Scratch.a, B, nh, T, T)
		use = s.Scratch.a.F32()
		kernels.DropoutForward(use, P, s.Dropout.P, s.Dropout.next(), s.Dropout.Offset(len(P)))
	}
	ctx := OutputBuffer(&s.ctx, &s.ctxT, s.transient, B, T, H)
	C := ctx.F32()
	kernels.ParallelFor(B*nh, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			off := (bh/nh)*T*H + (bh%nh)*d
			kernels.GemmSerial(false, false, T, d, T, 1, kernels.F32Operand(use[bh*tt:], T), kernels.F32Operand(V[off:], H), 0, C[off:], H)
		}
	})
	return ctx
}

// Backward takes dL/dcontext and returns dL/dx (nil when input gradients
// are off). It computes dQ, dK, dV only for slots that need them: a slot
// needs its output gradient when it holds a trainable parameter or when dx
// is wanted.
func (s *SelfAttention) Backward(dctx *tensor.Tensor) *tensor.Tensor {
	if s.p == nil {
		panic(fmt.Sprintf("nn: %s: Backward before Forward", s.name))
	}
	B, T, H := s.b, s.t, s.hidden()
	if dctx.Len() != B*T*H {
		panic(fmt.Sprintf("nn: %s: dcontext %v, want [%d %d %d]", s.name, dctx, B, T, H))
	}
	needQ, needK, needV := s.prepare()
	if !needQ && !needK && !needV {
		return nil
	}
	nh, d, tt := s.Heads, s.HeadDim, T*T
	if s.p != s.probs {
		panic(fmt.Sprintf("nn: %s: Backward after a Forward that kept no probabilities", s.name))
	}
	Q, K, V, P, G := s.q.F32(), s.k.F32(), s.v.F32(), s.p.F32(), dctx.F32()
	use := P
	if s.Dropout.masked { // regenerate the dropped probabilities
		s.Scratch.a = ReuseAs(memory.Workspace, s.Scratch.a, B, nh, T, T)
		use = s.Scratch.a.F32()
		kernels.DropoutForward(use, P, s.Dropout.P, s.Dropout.key, s.Dropout.Offset(len(P)))
	}
	var dV, dP []float32
	if needV {
		s.dv = ReuseAs(memory.Workspace, s.dv, B, T, H)
		dV = s.dv.F32()
	}
	if needQ || needK {
		s.Scratch.b = ReuseAs(memory.Workspace, s.Scratch.b, B, nh, T, T)
		dP = s.Scratch.b.F32()
	}
	kernels.ParallelFor(B*nh, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			off := (bh/nh)*T*H + (bh%nh)*d
			if dV != nil { // dV = Pᵀ·dctx
				kernels.GemmSerial(true, false, T, d, T, 1, kernels.F32Operand(use[bh*tt:], T), kernels.F32Operand(G[off:], H), 0, dV[off:], H)
			}
			if dP != nil { // dP = dctx·Vᵀ
				kernels.GemmSerial(false, true, T, T, d, 1, kernels.F32Operand(G[off:], H), kernels.F32Operand(V[off:], H), 0, dP[bh*tt:], T)
			}
		}
	})
	if dP != nil {
		if s.Dropout.masked { // through the dropout: the same mask, in place
			kernels.DropoutForward(dP, dP, s.Dropout.P, s.Dropout.key, s.Dropout.Offset(len(dP)))
		}
		// dS into scratch a (the dropped probabilities are no longer needed).
		s.Scratch.a = ReuseAs(memory.Workspace, s.Scratch.a, B, nh, T, T)
		dS := s.Scratch.a.F32()
		clear(dS)
		kernels.SoftmaxBackward(dS, P, dP, B*nh*T, T, float32(1/math.Sqrt(float64(d))))
		var dQ, dK []float32
		if needQ {
			s.dq = ReuseAs(memory.Workspace, s.dq, B, T, H)
			dQ = s.dq.F32()
		}
		if needK {
			s.dk = ReuseAs(memory.Workspace, s.dk, B, T, H)
			dK = s.dk.F32()
		}
		kernels.ParallelFor(B*nh, func(lo, hi int) {
			for bh := lo; bh < hi; bh++ {
				off := (bh/nh)*T*H + (bh%nh)*d
				if dQ != nil { // dQ = dS·K
					kernels.GemmSerial(false, false, T, d, T, 1, kernels.F32Operand(dS[bh*tt:], T), kernels.F32Operand(K[off:], H), 0, dQ[off:], H)
				}
				if dK != nil { // dK = dSᵀ·Q
					kernels.GemmSerial(true, false, T, d, T, 1, kernels.F32Operand(dS[bh*tt:], T), kernels.F32Operand(Q[off:], H), 0, dK[off:], H)
				}
			}
		})
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

// prepare decides which projections the Backward goes through (a slot
// needs its output gradient when it trains or when dx is wanted) and sets
// their input-gradient flags, and which projection outputs the backward
// reads (dQ = dS·K, dK = dSᵀ·Q, dP = dctx·Vᵀ); Forward, Backward and Plan
// share it.
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
	return needQ, needK, needV
}

// Buffers implements Buffered (the scratch is shared separately).
func (s *SelfAttention) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&s.probs, &s.ctx}, []**tensor.Tensor{&s.dq, &s.dk, &s.dv, &s.dx, &s.probsT, &s.ctxT}
}

// Plan implements Planner for x [B, T, hidden]: probs and the context are
// activations when a backward reads them, else transient; dQ, dK, dV, dx
// are workspace; the [B, heads, T, T] scratch is Shared, since a model's
// blocks share one.
func (s *SelfAttention) Plan(in []int, backward bool) Cost {
	B, T, H := in[0], in[1], s.hidden()
	nh, d := s.Heads, s.HeadDim
	probs := B * nh * T * T
	needQ, needK, needV := s.prepare()
	var c Cost
	if needQ || needK || needV {
		c.Slot(s.name+"#probs", memory.Activations, probs)
	} else {
		c.Slot(s.name+"#probsT", memory.Workspace, probs)
	}
	if s.transient {
		c.Slot(s.name+"#ctxT", memory.Workspace, B*T*H)
	} else {
		c.Slot(s.name+"#ctx", memory.Activations, B*T*H)
	}
	c.Forward = int64(B*nh) * (gemm(T, T, d) + gemm(T, d, T))
	// The per-head products: heads are addressed in [B, T, H] by offset
	// and leading dimension H, the scores are dense [T, T].
	head := func(transA, transB bool, m, n, k, lda, ldb, ldc int) Op {
		return Op{Kernel: OpGemmBatch, M: m, N: n, K: k, TransA: transA, TransB: transB, LdA: lda, LdB: ldb, LdC: ldc, BType: tensor.F32, Batch: B * nh}
	}
	c.Ran(head(false, true, T, T, d, H, H, T)) // Q·Kᵀ
	c.Ran(Op{Kernel: OpSoftmax, M: B * nh * T, N: T, Causal: s.Causal})
	if s.Dropout.Active() {
		c.Ran(Elementwise(OpDropout, probs))
	}
	c.Ran(head(false, false, T, d, T, T, H, H)) // P·V
	var scratchA, scratchB bool
	scratchA = s.Dropout.Active()
	needQ, needK, needV = needQ && backward, needK && backward, needV && backward
	if (needQ || needK || needV) && s.Dropout.Active() {
		c.Ran(Elementwise(OpDropout, probs)) // the dropped probabilities again
	}
	if needV {
		c.f32(memory.Workspace, B*T*H)
		c.BackwardDX += int64(B*nh) * gemm(T, d, T)
		c.Ran(head(true, false, T, d, T, T, H, H)) // dV = Pᵀ·dctx
	}
	if needQ || needK {
		scratchA, scratchB = true, true
		c.BackwardDX += int64(B*nh) * gemm(T, T, d)
		c.Ran(head(false, true, T, T, d, H, H, T)) // dP = dctx·Vᵀ
		if s.Dropout.Active() {
			c.Ran(Elementwise(OpDropout, probs))
		}
		c.Ran(Elementwise(OpClear, probs))
		c.Ran(Rows(OpSoftmaxBackward, B*nh*T, T))
	}
	if needQ {
		c.f32(memory.Workspace, B*T*H)
		c.BackwardDX += int64(B*nh) * gemm(T, d, T)
		c.Ran(head(false, false, T, d, T, T, H, H)) // dQ = dS·K
	}
	if needK {
		c.f32(memory.Workspace, B*T*H)
		c.BackwardDX += int64(B*nh) * gemm(T, d, T)
		c.Ran(head(true, false, T, d, T, T, H, H)) // dK = dSᵀ·Q
	}
	if backward && s.needDX {
		// needDX sends all three projections' dx: their sum.
		c.f32(memory.Workspace, B*T*H)
		c.Ran(Elementwise(OpAdd, B*T*H))
		c.Ran(Elementwise(OpAddTo, B*T*H))
	}
	c.Attention = c.Forward + c.BackwardDX
	if scratchA {
		c.Shared[memory.Workspace] += 4 * int64(probs)
	}
	if scratchB {
		c.Shared[memory.Workspace] += 4 * int64(probs)
	}
	for _, st := range []struct {
		need bool
		l    Layer
	}{{needQ, s.Query}, {needK, s.Key}, {needV, s.Value}} {
		c = c.Plus(PlanOf(st.l, in, st.need))
	}
	return c
}
