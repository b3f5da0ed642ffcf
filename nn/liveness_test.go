package nn

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/golora/golora/memory"
)

// TestRestore: a LayerNorm or activation told to keep its output writes
// it to a transient buffer and restores it bit for bit after another
// forward overwrote that buffer; one told not to keep it restores nothing
// and holds no reference to its input unless its backward reads it.
func TestRestore(t *testing.T) {
	build := map[string]func() Layer{
		"layernorm": func() Layer { return NewLayerNorm("n", 7, 1e-5) },
		"gelu":      func() Layer { a, _ := NewActivation("a", "gelu"); return a },
		"gelu_new":  func() Layer { a, _ := NewActivation("a", "gelu_new"); return a },
		"relu":      func() Layer { a, _ := NewActivation("a", "relu"); return a },
	}
	for name, mk := range build {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			l := mk()
			randomize(t, l, rng, 0.5)
			l.SetInputGrad(false)
			KeepOutput(l, true)
			if !NeedsInput(l) {
				t.Fatal("a restorable output needs the input kept")
			}
			x := randT(rng, 1, 3, 7)
			y := l.Forward(x)
			want := append([]float32(nil), y.F32()...)
			for i := range y.F32() { // another block ran on the same buffer
				y.F32()[i] = float32(rng.NormFloat64())
			}
			l.(Restorer).Restore()
			for i := range want {
				if y.F32()[i] != want[i] {
					t.Fatalf("restored output differs at %d: %v, want %v", i, y.F32()[i], want[i])
				}
			}

			KeepOutput(l, false)
			for _, p := range AllParams(l) {
				_ = p.SetTrainable(false)
			}
			if NeedsInput(l) {
				t.Error("a frozen module without dx nor kept output needs its input")
			}
			y = l.Forward(x)
			clear(y.F32())
			l.(Restorer).Restore()
			for _, v := range y.F32() {
				if v != 0 {
					t.Fatal("Restore wrote an output nobody keeps")
				}
			}
		})
	}
}

// TestNeedsInput: each module's backward reads its input exactly when it
// must (dW, the activation's derivative, LayerNorm's statistics).
func TestNeedsInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	frozen, trained := NewLinear("f", 4, 4, true), NewLinear("t", 4, 4, true)
	randomize(t, trained, rng, 1)
	ln := NewLayerNorm("n", 4, 1e-5)
	act, _ := NewActivation("a", "gelu")
	drop, off := NewDropout("d", 0.5, 1), NewDropout("o", 0, 1)
	out := NewOutput("o", 4, 4, 0.1, 1)
	for _, tc := range []struct {
		name       string
		m          Layer
		dx, keep   bool
		needsInput bool
	}{
		{"frozen linear, dx", frozen, true, true, false},
		{"trainable linear", trained, false, false, true},
		{"layernorm, dx", ln, true, false, true},
		{"layernorm, kept output", ln, false, true, true},
		{"layernorm, nothing", ln, false, false, false},
		{"activation, dx", act, true, false, true},
		{"active dropout, kept output", drop, true, true, false},
		{"inactive dropout, kept output", off, true, true, true},
		{"inactive dropout", off, true, false, false},
		{"frozen output, dx", out, true, true, false},
	} {
		tc.m.SetInputGrad(tc.dx)
		KeepOutput(tc.m, tc.keep)
		if got := NeedsInput(tc.m); got != tc.needsInput {
			t.Errorf("%s: NeedsInput %v, want %v", tc.name, got, tc.needsInput)
		}
	}
}

// TestAttentionKeeps: the attention keeps exactly what its backward reads:
// with only the query training, K (for dQ = dS·K) and V (for dP) and the
// probabilities, not Q; frozen without dx, nothing.
func TestAttentionKeeps(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	s := NewSelfAttention("s", 12, 3, true, 0, 5)
	randomize(t, s.Query, rng, 0.5)
	s.SetInputGrad(false)
	s.KeepOutput(false)
	kept := func() []string {
		var ks []string
		for k, v := range s.Plan([]int{2, 5, 12}, true).Slots {
			if v[memory.Activations] > 0 {
				ks = append(ks, k)
			}
		}
		slices.Sort(ks)
		return ks
	}
	if got, want := kept(), []string{"s#probs", "s.key#y", "s.value#y"}; !slices.Equal(got, want) {
		t.Errorf("query training: kept %v, want %v", got, want)
	}
	for _, p := range AllParams(s) {
		_ = p.SetTrainable(false)
	}
	if got := kept(); len(got) != 0 {
		t.Errorf("frozen without dx: kept %v", got)
	}
}

// TestPool: a block's slots are keyed by position, so blocks that use
// different buffers at a position share the larger one and blocks that
// use different positions add them; kept activations stay the block's own
// unless the activations are pooled too.
func TestPool(t *testing.T) {
	block := func(name string, keepQ bool) Cost {
		var c Cost
		c.Output(name+".query", keepQ, 10)
		c.Output(name+".ctx", !keepQ, 20)
		c.Slot(name+"#r", memory.Workspace, 5)
		c.Bytes[memory.Workspace] = 12 // unkeyed scratch
		return c
	}
	var own Cost
	own.Bytes[memory.Activations] = 32
	var sum, pooled Cost
	for i, keepQ := range []bool{true, false, false} {
		name := "enc." + string(rune('0'+i))
		sum = sum.Plus(Pool(name, own, block(name, keepQ), false))
		pooled = pooled.Plus(Pool(name, own, block(name, keepQ), true))
	}
	got := sum.Total()
	// own 3·32 + kept query (40) + kept ctx (2·80); shared: query#yt 40,
	// ctx#yt 80, #r 20, scratch 12.
	if a, w := got[memory.Activations], int64(3*32+40+2*80); a != w {
		t.Errorf("activations %d, want %d", a, w)
	}
	if w, want := got[memory.Workspace], int64(40+80+20+12); w != want {
		t.Errorf("workspace %d, want %d (slots %v)", w, want, sum.Slots)
	}
	got = pooled.Total()
	if a, w := got[memory.Activations], int64(3*32+40+80); a != w {
		t.Errorf("pooled activations %d, want %d", a, w)
	}
}

// TestTransientOutputsShared: two blocks whose outputs no backward reads
// run on one transient buffer once their buffers are handed on, while
// kept outputs stay their own.
func TestTransientOutputsShared(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	a, b := NewLinear("a", 6, 4, true), NewLinear("b", 6, 4, true)
	x := randT(rng, 1, 3, 6)
	for _, keep := range []bool{false, true} {
		a.KeepOutput(keep)
		b.KeepOutput(keep)
		ya := a.Forward(x)
		SwapBuffers(b, a, false, nil)
		before := memory.Take().Allocated
		yb := b.Forward(x)
		allocated := memory.Take().Allocated.Sub(before).Total()
		same := &ya.F32()[0] == &yb.F32()[0]
		if !keep && (!same || allocated != 0) {
			t.Errorf("transient: same buffer %v, allocated %d bytes", same, allocated)
		}
		if keep && same {
			t.Error("kept outputs share a buffer")
		}
		SwapBuffers(b, a, false, nil) // back
	}
}
