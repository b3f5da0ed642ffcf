package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// plannable is a layer that declares its cost.
type plannable interface {
	Layer
	Planner
}

// measure runs fn and returns the bytes it allocated through memory and the
// GEMM FLOPs it ran.
func measure(fn func()) (memory.Bytes, int64) {
	b, _, f := measureCalls(fn)
	return b, f
}

// measureCalls is measure with the number of GEMM calls.
func measureCalls(fn func()) (memory.Bytes, int64, int64) {
	b, c := memory.Take().Allocated, kernels.ReadCounters()
	fn()
	d := kernels.ReadCounters().Sub(c)
	return memory.Take().Allocated.Sub(b), d.Calls, d.Flops
}

// gemmOps sums the GEMM calls and FLOPs of declared ops.
func gemmOps(ops map[Op]int64) (calls, flops int64) {
	for op, n := range ops {
		if op.FLOPs() > 0 {
			calls += n * op.Calls()
			flops += n * op.FLOPs()
		}
	}
	return calls, flops
}

// checkPlan runs Forward (and Backward) of a fresh layer on x and checks
// that what was allocated and computed is exactly what Plan declares.
func checkPlan(t *testing.T, l plannable, x *tensor.Tensor, backward, needDX bool, rng *rand.Rand) {
	t.Helper()
	l.SetInputGrad(needDX)
	var y *tensor.Tensor
	got, calls, flops := measureCalls(func() {
		y = l.Forward(x)
		if backward {
			l.Backward(randT(rng, 1, y.Shape()...))
		}
	})
	want := l.Plan(x.Shape(), backward)
	if c, f := gemmOps(want.Ops); c != calls || f != flops {
		t.Errorf("ran %d GEMMs of %d FLOPs, declared ops hold %d of %d", calls, flops, c, f)
	}
	if got != want.Total() {
		t.Errorf("allocated %v, declared %v (owned %v, shared %v)", got.Map(), want.Total().Map(), want.Bytes.Map(), want.Shared.Map())
	}
	if flops != want.FLOPs() {
		t.Errorf("ran %d GEMM FLOPs, declared %d (forward %d, dX %d, dW %d)", flops, want.FLOPs(), want.Forward, want.BackwardDX, want.BackwardDW)
	}
	// A second step on the same shapes allocates nothing.
	again, _ := measure(func() {
		y = l.Forward(x)
		if backward {
			l.Backward(randT(rng, 1, y.Shape()...))
		}
	})
	if again.Total() != 0 {
		t.Errorf("second step allocated %v", again.Map())
	}
}

func TestPlanMatchesAllocation(t *testing.T) {
	type tc struct {
		name  string
		build func() plannable
		in    []int
		train []string // module names whose parameters train (all: "*")
		needX bool
		eval  bool
		// transient: no backward reads the output (KeepOutput(false))
		transient bool
	}
	mustInter := func() plannable {
		m, err := NewIntermediate("i", 8, 20, "gelu")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	mustAct := func() plannable {
		a, err := NewActivation("a", "gelu_new")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	mustGated := func() plannable {
		m, err := NewGatedMLP("m", 8, 12, false, "silu")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	mustGQA := func() plannable {
		s, err := NewAttention("s", AttentionConfig{Hidden: 12, Heads: 4, KVHeads: 2, HeadDim: 4, Query: "q_proj", Key: "k_proj", Value: "v_proj", Output: "o_proj", Causal: true, Dropout: 0.1, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if s.Rotary, err = NewRotary(4, 10000, nil); err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []tc{
		{name: "rmsnorm", build: func() plannable { return NewRMSNorm("n", 8, 1e-6) }, in: []int{3, 4, 8}, train: []string{"*"}, needX: true},
		{name: "rmsnorm frozen no dx", build: func() plannable { return NewRMSNorm("n", 8, 1e-6) }, in: []int{3, 8}},
		{name: "gated mlp full", build: mustGated, in: []int{2, 3, 8}, train: []string{"*"}, needX: true},
		{name: "gated mlp up only", build: mustGated, in: []int{2, 3, 8}, train: []string{"m.up_proj"}},
		{name: "gated mlp down only", build: mustGated, in: []int{2, 3, 8}, train: []string{"m.down_proj"}},
		{name: "gated mlp frozen dx", build: mustGated, in: []int{2, 3, 8}, needX: true},
		{name: "gqa attention full", build: mustGQA, in: []int{2, 5, 12}, train: []string{"*"}, needX: true},
		{name: "gqa attention q only", build: mustGQA, in: []int{2, 5, 12}, train: []string{"s.q_proj"}},
		{name: "gqa attention o only", build: mustGQA, in: []int{2, 5, 12}, train: []string{"s.o_proj"}},
		{name: "gqa attention frozen dx", build: mustGQA, in: []int{2, 5, 12}, needX: true},
		{name: "linear trainable", build: func() plannable { return NewLinear("l", 8, 6, true) }, in: []int{2, 5, 8}, train: []string{"*"}, needX: true},
		{name: "linear trainable no dx", build: func() plannable { return NewLinear("l", 8, 6, true) }, in: []int{10, 8}, train: []string{"*"}},
		{name: "linear frozen dx", build: func() plannable { return NewLinear("l", 8, 6, false) }, in: []int{10, 8}, needX: true},
		{name: "linear frozen nothing", build: func() plannable { return NewLinear("l", 8, 6, false) }, in: []int{10, 8}},
		{name: "layernorm", build: func() plannable { return NewLayerNorm("n", 8, 1e-5) }, in: []int{3, 4, 8}, train: []string{"*"}, needX: true},
		{name: "layernorm frozen no dx", build: func() plannable { return NewLayerNorm("n", 8, 1e-5) }, in: []int{3, 8}},
		{name: "activation", build: mustAct, in: []int{3, 7}, needX: true},
		{name: "dropout", build: func() plannable { return NewDropout("d", 0.25, 1) }, in: []int{4, 9}, needX: true},
		{name: "dropout eval", build: func() plannable { return NewDropout("d", 0.25, 1) }, in: []int{4, 9}, needX: true, eval: true},
		{name: "intermediate frozen dx", build: mustInter, in: []int{2, 3, 8}, needX: true},
		{name: "intermediate trainable", build: mustInter, in: []int{2, 3, 8}, train: []string{"*"}},
		{name: "output frozen", build: func() plannable { return NewOutput("o", 12, 8, 0.1, 3) }, in: []int{2, 3, 12}},
		{name: "output trainable dx", build: func() plannable { return NewOutput("o", 12, 8, 0.1, 3) }, in: []int{2, 3, 12}, train: []string{"*"}, needX: true},
		{name: "attention full", build: func() plannable { return NewSelfAttention("s", 12, 3, true, 0.1, 5) }, in: []int{2, 5, 12}, train: []string{"*"}, needX: true},
		{name: "attention query only", build: func() plannable { return NewSelfAttention("s", 12, 3, true, 0, 5) }, in: []int{2, 5, 12}, train: []string{"s.query"}},
		{name: "attention value only, dropout", build: func() plannable { return NewSelfAttention("s", 12, 3, true, 0.2, 5) }, in: []int{2, 5, 12}, train: []string{"s.value"}},
		{name: "attention frozen dx", build: func() plannable { return NewSelfAttention("s", 12, 2, false, 0, 5) }, in: []int{1, 4, 12}, needX: true},
		{name: "linear frozen transient", build: func() plannable { return NewLinear("l", 8, 6, true) }, in: []int{10, 8}, needX: true, transient: true},
		{name: "layernorm transient", build: func() plannable { return NewLayerNorm("n", 8, 1e-5) }, in: []int{3, 8}, transient: true},
		{name: "activation transient", build: mustAct, in: []int{3, 7}, needX: true, transient: true},
		{name: "dropout transient", build: func() plannable { return NewDropout("d", 0.25, 1) }, in: []int{4, 9}, needX: true, transient: true},
		{name: "output frozen transient", build: func() plannable { return NewOutput("o", 12, 8, 0.1, 3) }, in: []int{2, 3, 12}, needX: true, transient: true},
		{name: "intermediate trainable transient", build: mustInter, in: []int{2, 3, 8}, train: []string{"*"}, transient: true},
		{name: "attention frozen transient", build: func() plannable { return NewSelfAttention("s", 12, 3, true, 0.1, 5) }, in: []int{2, 5, 12}, transient: true},
		{name: "attention key only transient", build: func() plannable { return NewSelfAttention("s", 12, 3, true, 0, 5) }, in: []int{2, 5, 12}, train: []string{"s.key"}, transient: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			l := c.build()
			for _, name := range c.train {
				m := Module(l)
				if name != "*" {
					var err error
					if m, err = Find(l, name); err != nil {
						t.Fatal(err)
					}
				}
				randomize(t, m, rng, 0.5)
			}
			if c.eval {
				SetTraining(l, false)
			}
			x := randT(rng, 1, c.in...)
			KeepOutput(l, !c.transient)
			checkPlan(t, l, x, true, c.needX, rng)
			l2 := c.build()
			KeepOutput(l2, !c.transient)
			checkPlan(t, l2, x, false, c.needX, rng)
		})
	}
}

func TestPlanEmbeddingAndLoss(t *testing.T) {
	e := NewEmbedding("e", 10, 6)
	ids := []int32{1, 2, 3, 9, 0, 4}
	got, _ := measure(func() { e.Forward(ids, 2, 3) })
	if want := e.Plan([]int{2, 3}, true).Total(); got != want {
		t.Errorf("embedding allocated %v, declared %v", got.Map(), want.Map())
	}
	var ce CrossEntropyLoss
	logits := randT(rand.New(rand.NewPCG(3, 4)), 1, 4, 5)
	got, _ = measure(func() {
		if _, err := ce.Forward(logits, []int32{0, 1, 4, IgnoreIndex}); err != nil {
			t.Fatal(err)
		}
		ce.Backward()
	})
	if want := ce.Plan(logits.Shape(), true).Total(); got != want {
		t.Errorf("cross-entropy allocated %v, declared %v", got.Map(), want.Map())
	}
}

func TestSwapBuffers(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	a, b := NewOutput("a", 6, 4, 0.5, 1), NewOutput("b", 6, 4, 0.5, 1)
	x := randT(rng, 1, 3, 6)
	ya := a.Forward(x)
	before := memory.Take().Allocated
	SwapBuffers(b, a, true, nil)
	yb := b.Forward(x) // runs on a's buffers: nothing new is allocated
	if d := memory.Take().Allocated.Sub(before); d.Total() != 0 {
		t.Errorf("forward on swapped buffers allocated %v", d.Map())
	}
	if &ya.F32()[0] != &yb.F32()[0] {
		t.Error("b does not write into a's former output buffer")
	}
}

func TestRewindReplaysMasks(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	o := NewOutput("o", 6, 6, 0.5, 1)
	Normal(o.Dense.(*Linear).Weight.Value, 1, rng)
	x := randT(rng, 1, 4, 6)
	SetStep(o, 3)
	undo := Rewind(o)
	first := append([]float32(nil), o.Forward(x).F32()...)
	undo()
	second := o.Forward(x).F32()
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("recomputed output differs at %d: %v vs %v", i, second[i], first[i])
		}
	}
	third := o.Forward(x).F32() // without rewinding: the next step's mask
	same := true
	for i := range first {
		same = same && first[i] == third[i]
	}
	if same {
		t.Error("a forward without Rewind drew the same mask")
	}
}
