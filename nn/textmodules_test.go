package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/golora/golora/tensor"
)

// Tests of the modules the text models add: RMSNorm, the gated (SwiGLU)
// MLP, grouped-query attention with rotary embeddings, a padding mask, an
// output projection and a KV cache.

func TestRMSNormModule(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	l := NewRMSNorm("model.norm", 7, 1e-6)
	randomize(t, l, rng, 1)
	x := randT(rng, 1, 2, 3, 7)
	y := l.Forward(x)
	for r := 0; r < 6; r++ {
		var ss float64
		for _, v := range x.F32()[r*7 : (r+1)*7] {
			ss += float64(v) * float64(v)
		}
		rs := 1 / math.Sqrt(ss/7+1e-6)
		for j := 0; j < 7; j++ {
			want := float64(l.Weight.Value.F32()[j]) * float64(x.F32()[r*7+j]) * rs
			if d := math.Abs(float64(y.F32()[r*7+j]) - want); d > 1e-6*max(1, math.Abs(want)) {
				t.Fatalf("y[%d,%d] = %v, want %v", r, j, y.F32()[r*7+j], want)
			}
		}
	}
	var dx *tensor.Tensor
	checkFD(t, func() *tensor.Tensor { return l.Forward(x) }, func(dy *tensor.Tensor) { ZeroGrads(l); dx = l.Backward(dy) },
		[]fdVar{{"x", x.F32(), func() []float32 { return dx.F32() }}, paramVar(l.Weight)}, 1e-2, fdTol)
}

func TestGatedMLP(t *testing.T) {
	for _, bias := range []bool{false, true} {
		t.Run(fmt.Sprintf("bias=%v", bias), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			m, err := NewGatedMLP("model.layers.0.mlp", 6, 10, bias, "silu")
			if err != nil {
				t.Fatal(err)
			}
			randomize(t, m, rng, 0.5)
			x := randT(rng, 1, 2, 3, 6)
			y := m.Forward(x)
			lin := func(l Layer, in []float32, n, din, dout int) []float64 {
				ll := l.(*Linear)
				var b []float32
				if ll.Bias != nil {
					b = ll.Bias.Value.F32()
				}
				return linearRef(in, ll.Weight.Value.F32(), b, n, din, dout, false)
			}
			g, u := lin(m.Gate, x.F32(), 6, 6, 10), lin(m.Up, x.F32(), 6, 6, 10)
			h := make([]float32, len(g))
			for i := range h {
				h[i] = float32(g[i] / (1 + math.Exp(-g[i])) * u[i])
			}
			if d, s := maxAbsDiff(y.F32(), lin(m.Down, h, 6, 10, 6)); d > 1e-5*s {
				t.Fatalf("forward differs from the reference by %g (scale %g)", d, s)
			}
			var dx *tensor.Tensor
			vars := []fdVar{{"x", x.F32(), func() []float32 { return dx.F32() }}}
			for _, p := range AllParams(m) {
				vars = append(vars, paramVar(p))
			}
			checkFD(t, func() *tensor.Tensor { return m.Forward(x) }, func(dy *tensor.Tensor) { ZeroGrads(m); dx = m.Backward(dy) }, vars, 1e-2, fdTol)
		})
	}
	if _, err := NewGatedMLP("mlp", 4, 8, false, "gelu"); err == nil || !strings.Contains(err.Error(), `"gelu"`) {
		t.Errorf("gelu gated MLP: err = %v, want one naming the activation", err)
	}
}

// groupedAttentionRef is SelfAttention's forward (no dropout, no cache) in
// float64 loops from the definition (transformers' eager attention with
// repeat_kv, apply_rotary_pos_emb and an additive mask), over the tokens
// positioned from 0.
func groupedAttentionRef(s *SelfAttention, x *tensor.Tensor, mask []int32) []float64 {
	B, T, H := x.Dim(0), x.Dim(1), x.Dim(2)
	nh, nkv, d := s.Heads, s.kvHeads(), s.HeadDim
	proj := func(l Layer, out int) []float64 {
		lin := l.(*Linear)
		var b []float32
		if lin.Bias != nil {
			b = lin.Bias.Value.F32()
		}
		return linearRef(x.F32(), lin.Weight.Value.F32(), b, B*T, H, out, false)
	}
	q, k, v := proj(s.Query, nh*d), proj(s.Key, nkv*d), proj(s.Value, nkv*d)
	if s.Rotary != nil {
		rot := func(z []float64, heads int) {
			half := d / 2
			for r := 0; r < B*T; r++ {
				p := float64(r % T)
				for h := 0; h < heads; h++ {
					o := r*heads*d + h*d
					for i := 0; i < half; i++ {
						a := float64(float32(p) * s.Rotary.InvFreq[i])
						c, sn := math.Cos(a), math.Sin(a)
						x1, x2 := z[o+i], z[o+half+i]
						z[o+i], z[o+half+i] = x1*c-x2*sn, x2*c+x1*sn
					}
				}
			}
		}
		rot(q, nh)
		rot(k, nkv)
	}
	ctx := make([]float64, B*T*nh*d)
	for b := 0; b < B; b++ {
		for h := 0; h < nh; h++ {
			hk := h / (nh / nkv)
			for i := 0; i < T; i++ {
				sc := make([]float64, T)
				ok := make([]bool, T)
				mx, any := math.Inf(-1), false
				for j := 0; j < T; j++ {
					ok[j] = !(s.Causal && j > i) && (mask == nil || mask[b*T+j] != 0)
					if !ok[j] {
						continue
					}
					for c := 0; c < d; c++ {
						sc[j] += q[(b*T+i)*nh*d+h*d+c] * k[(b*T+j)*nkv*d+hk*d+c]
					}
					sc[j] /= math.Sqrt(float64(d))
					mx, any = max(mx, sc[j]), true
				}
				if !any {
					continue // nothing to attend to: zero context
				}
				var sum float64
				for j := range sc {
					if ok[j] {
						sc[j] = math.Exp(sc[j] - mx)
						sum += sc[j]
					}
				}
				for j := range sc {
					if !ok[j] {
						continue
					}
					for c := 0; c < d; c++ {
						ctx[(b*T+i)*nh*d+h*d+c] += sc[j] / sum * v[(b*T+j)*nkv*d+hk*d+c]
					}
				}
			}
		}
	}
	if s.Output == nil {
		return ctx
	}
	o := s.Output.(*Linear)
	c32 := make([]float32, len(ctx))
	for i, v := range ctx {
		c32[i] = float32(v)
	}
	var ob []float32
	if o.Bias != nil {
		ob = o.Bias.Value.F32()
	}
	return linearRef(c32, o.Weight.Value.F32(), ob, B*T, nh*d, H, false)
}

// llamaAttention is a small LLaMA-style attention: 4 query heads over 2
// key/value heads of 4, rotary, causal, o_proj.
func llamaAttention(t *testing.T, hidden, heads, kvHeads, headDim int) *SelfAttention {
	t.Helper()
	s, err := NewAttention("model.layers.0.self_attn", AttentionConfig{Hidden: hidden, Heads: heads, KVHeads: kvHeads, HeadDim: headDim,
		Query: "q_proj", Key: "k_proj", Value: "v_proj", Output: "o_proj", Causal: true})
	if err != nil {
		t.Fatal(err)
	}
	if headDim%2 == 0 {
		if s.Rotary, err = NewRotary(headDim, 100, nil); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestGroupedAttention(t *testing.T) {
	const B, T, H = 2, 5, 10
	for _, tc := range []struct {
		name          string
		heads, kv, hd int
		causal, mask  bool
		rotary        bool
	}{
		{"gqa causal rotary", 4, 2, 4, true, false, true},
		{"gqa causal rotary padded", 4, 2, 4, true, true, true},
		{"mqa padded", 3, 1, 6, true, true, true},
		{"mha bidirectional padded", 2, 2, 5, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			s := llamaAttention(t, H, tc.heads, tc.kv, tc.hd)
			s.Causal = tc.causal
			if !tc.rotary {
				s.Rotary = nil
			}
			randomize(t, s, rng, 0.5)
			x := randT(rng, 1, B, T, H)
			if tc.mask { // right padding in the first sequence, left in the second
				s.Mask = []int32{1, 1, 1, 0, 0, 0, 1, 1, 1, 1}
			}
			y := s.Forward(x)
			want := groupedAttentionRef(s, x, s.Mask)
			if d, sc := maxAbsDiff(y.F32(), want); d > 1e-5*sc {
				t.Fatalf("forward differs from the float64 reference by %g (scale %g)", d, sc)
			}
			var dx *tensor.Tensor
			vars := []fdVar{{"x", x.F32(), func() []float32 { return dx.F32() }}}
			for _, p := range AllParams(s) {
				vars = append(vars, paramVar(p))
			}
			checkFD(t, func() *tensor.Tensor { return s.Forward(x) }, func(dy *tensor.Tensor) { ZeroGrads(s); dx = s.Backward(dy) }, vars, 3e-3, fdTol)
		})
	}
}

// TestKVCache checks that generating through the cache (a prompt, then one
// token at a time) gives the outputs of the whole sequence at once.
func TestKVCache(t *testing.T) {
	const T, H = 7, 8
	rng := rand.New(rand.NewPCG(7, 8))
	s := llamaAttention(t, H, 4, 2, 2)
	randomize(t, s, rng, 0.7)
	SetTraining(s, false)
	x := randT(rng, 1, 1, T, H)
	full := append([]float32(nil), s.Forward(x).F32()...)
	s.Cache = NewKVCache(1, T, 2*2)
	var got []float32
	for lo, n := range []int{3, 1, 1, 1, 1} { // a prompt of 3, then single tokens
		start := 0
		for i := 0; i < lo; i++ {
			start += []int{3, 1, 1, 1, 1}[i]
		}
		chunk := tensor.FromF32(x.F32()[start*H:(start+n)*H], 1, n, H)
		got = append(got, s.Forward(chunk).F32()...)
	}
	if s.Cache.Len != T {
		t.Fatalf("cache holds %d tokens, want %d", s.Cache.Len, T)
	}
	for i := range full {
		if d := math.Abs(float64(got[i] - full[i])); d > 1e-5*max(1, math.Abs(float64(full[i]))) {
			t.Fatalf("value %d: cached %v, uncached %v", i, got[i], full[i])
		}
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "KV cache full") {
				t.Errorf("overfilling the cache: panic %v", r)
			}
		}()
		s.Forward(tensor.FromF32(x.F32()[:H], 1, 1, H))
	}()
}

func TestRotaryScaling(t *testing.T) {
	plain, err := NewRotary(8, 10000, nil)
	if err != nil {
		t.Fatal(err)
	}
	lin, err := NewRotary(8, 10000, &RopeScaling{Type: "linear", Factor: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range plain.InvFreq {
		if want := 1 / math.Pow(10000, float64(2*i)/8); math.Abs(float64(f)-want) > 1e-6*want {
			t.Errorf("inv_freq[%d] = %v, want %v", i, f, want)
		}
		if lin.InvFreq[i] != f/4 {
			t.Errorf("linear inv_freq[%d] = %v, want %v", i, lin.InvFreq[i], f/4)
		}
	}
	// llama3: high frequencies kept, low ones divided by the factor, the
	// middle interpolated (wavelengths against 8192/1 and 8192/4).
	l3, err := NewRotary(128, 500000, &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := NewRotary(128, 500000, nil)
	kept, scaled, mid := 0, 0, 0
	for i, f := range ref.InvFreq {
		wave := 2 * math.Pi / float64(f)
		switch g := l3.InvFreq[i]; {
		case wave < 8192/4.0:
			if g != f {
				t.Errorf("high frequency %d changed", i)
			}
			kept++
		case wave > 8192:
			if math.Abs(float64(g)-float64(f)/8) > 1e-6*float64(f) {
				t.Errorf("low frequency %d: %v, want %v", i, g, f/8)
			}
			scaled++
		default:
			if !(g <= f && g >= f/8) {
				t.Errorf("medium frequency %d: %v not between %v and %v", i, g, f/8, f)
			}
			mid++
		}
	}
	if kept == 0 || scaled == 0 || mid == 0 {
		t.Errorf("llama3 test covers kept %d, scaled %d, medium %d frequencies", kept, scaled, mid)
	}
	for _, bad := range []*RopeScaling{{Type: "yarn", Factor: 2}, {Type: "linear", Factor: 0.5}, {Type: "llama3", Factor: 8}} {
		if _, err := NewRotary(8, 10000, bad); err == nil || !strings.Contains(err.Error(), "rope_scaling") {
			t.Errorf("%+v: err = %v, want a rope_scaling error", *bad, err)
		}
	}
	if _, err := NewRotary(7, 10000, nil); err == nil {
		t.Error("odd head dimension accepted")
	}
}
