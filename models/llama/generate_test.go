package llama

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func loadTied(t *testing.T) *Model {
	t.Helper()
	m, err := Load(testdata("llama-tiny-tied"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGenerateMatchesRecomputation checks the KV cache: greedy decoding
// with the cache picks the tokens that running the whole sequence through
// the model at every step picks, and the cached logits equal the
// recomputed ones to float rounding.
func TestGenerateMatchesRecomputation(t *testing.T) {
	for _, dir := range []string{"llama-tiny", "llama-tiny-tied"} {
		t.Run(dir, func(t *testing.T) {
			m, err := Load(testdata(dir), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			prompt := []int32{1, 17, 42, 5}
			var cachedLogits [][]float32
			got, err := m.Generate(prompt, GenerateOptions{MaxNewTokens: 12, TopP: 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 12 {
				t.Fatalf("%d tokens, want 12", len(got))
			}
			// The same with a cache, logging each step's logits.
			m.attachCache(len(prompt) + 12)
			seq := append([]int32(nil), prompt...)
			l := m.step(seq)
			for range 12 {
				cachedLogits = append(cachedLogits, append([]float32(nil), l...))
				next := argmax(l)
				seq = append(seq, next)
				l = m.step([]int32{next})
			}
			m.detachCache()
			if !slices.Equal(seq[len(prompt):], got) {
				t.Fatalf("Generate %v, cached steps %v", got, seq[len(prompt):])
			}
			// Recompute: the whole sequence at every step, no cache.
			V := m.Config.VocabSize
			for i := range 12 {
				n := len(prompt) + i
				logits := m.Forward(seq[:n], nil, 1, n).F32()
				last := logits[(n-1)*V : n*V]
				if argmax(last) != got[i] {
					t.Fatalf("step %d: recomputation picks %d, Generate %d", i, argmax(last), got[i])
				}
				var d, s float64
				for j := range last {
					d = max(d, math.Abs(float64(last[j]-cachedLogits[i][j])))
					s = max(s, math.Abs(float64(last[j])))
				}
				if d > 1e-5*s {
					t.Errorf("step %d: cached logits differ from recomputed by %g (scale %g)", i, d, s)
				}
			}
		})
	}
}

func argmax(v []float32) int32 {
	b := 0
	for i, x := range v {
		if x > v[b] {
			b = i
		}
	}
	return int32(b)
}

func TestGenerateSampling(t *testing.T) {
	m := loadTied(t)
	prompt := []int32{1, 9}
	gen := func(o GenerateOptions) []int32 {
		t.Helper()
		out, err := m.Generate(prompt, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	greedy := gen(GenerateOptions{MaxNewTokens: 10, TopP: 1})
	if !slices.Equal(greedy, gen(GenerateOptions{MaxNewTokens: 10, TopP: 1})) {
		t.Error("greedy decoding is not deterministic")
	}
	s1 := gen(GenerateOptions{MaxNewTokens: 10, Temperature: 1.5, TopP: 1, Seed: 1})
	if !slices.Equal(s1, gen(GenerateOptions{MaxNewTokens: 10, Temperature: 1.5, TopP: 1, Seed: 1})) {
		t.Error("sampling with one seed is not reproducible")
	}
	if slices.Equal(s1, gen(GenerateOptions{MaxNewTokens: 10, Temperature: 1.5, TopP: 1, Seed: 2})) {
		t.Error("two seeds sampled the same 10 tokens")
	}
	// top_k 1 and a tiny top_p leave only the most likely token: greedy.
	if !slices.Equal(greedy, gen(GenerateOptions{MaxNewTokens: 10, Temperature: 2, TopK: 1, TopP: 1, Seed: 3})) {
		t.Error("top_k 1 differs from greedy")
	}
	if !slices.Equal(greedy, gen(GenerateOptions{MaxNewTokens: 10, Temperature: 2, TopP: 1e-6, Seed: 4})) {
		t.Error("top_p 1e-6 differs from greedy")
	}
	// EOS stops generation and is returned; emit can stop it too.
	eos := int(greedy[3])
	if out := gen(GenerateOptions{MaxNewTokens: 10, TopP: 1, EOS: []int{eos}}); len(out) > 4 || out[len(out)-1] != int32(eos) {
		t.Errorf("EOS %d: generated %v", eos, out)
	}
	n := 0
	out, _ := m.Generate(prompt, GenerateOptions{MaxNewTokens: 10, TopP: 1}, func(int32) bool { n++; return n < 3 })
	if len(out) != 3 {
		t.Errorf("emit stopping after 3: %d tokens", len(out))
	}
	for _, bad := range []GenerateOptions{{MaxNewTokens: 40, TopP: 1}, {MaxNewTokens: 1, TopP: 0}, {MaxNewTokens: 1, TopP: 1, Temperature: -1}} {
		if _, err := m.Generate(prompt, bad, nil); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if _, err := m.Generate([]int32{64}, GenerateOptions{MaxNewTokens: 1, TopP: 1}, nil); err == nil {
		t.Error("out-of-vocabulary prompt accepted")
	}
}

// TestSamplerDistribution checks the sampler's frequencies against the
// warped distribution: temperature, then top-k, then top-p.
func TestSamplerDistribution(t *testing.T) {
	logits := []float32{2, 1, 0.5, 0, -1, 3}
	s := newSampler(len(logits))
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 200000
	for _, tc := range []struct {
		o    GenerateOptions
		want []float64
	}{
		{GenerateOptions{Temperature: 1, TopP: 1}, softmaxOf(logits, 1, nil)},
		{GenerateOptions{Temperature: 0.5, TopP: 1}, softmaxOf(logits, 0.5, nil)},
		{GenerateOptions{Temperature: 1, TopK: 2, TopP: 1}, softmaxOf(logits, 1, []int{5, 0})},
		// p(5) ≈ 0.60, p(0) ≈ 0.22: top_p 0.7 keeps both.
		{GenerateOptions{Temperature: 1, TopP: 0.7}, softmaxOf(logits, 1, []int{5, 0})},
	} {
		counts := make([]float64, len(logits))
		for range n {
			counts[s.pick(logits, tc.o, rng)]++
		}
		for i := range counts {
			if d := math.Abs(counts[i]/n - tc.want[i]); d > 0.005 {
				t.Errorf("%+v: token %d frequency %.4f, want %.4f", tc.o, i, counts[i]/n, tc.want[i])
			}
		}
	}
}

// TestSamplerTopKTies: top_k keeps every token scoring at least the k-th
// largest, as transformers' TopKLogitsWarper (scores < the k-th value are
// removed), so tokens tied with the k-th are all kept, not cut by id.
func TestSamplerTopKTies(t *testing.T) {
	logits := []float32{1, 3, 3, 3, 0, 2}
	s := newSampler(len(logits))
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 60000
	for _, tc := range []struct {
		k    int
		keep []int
	}{
		{1, []int{1, 2, 3}},
		{2, []int{1, 2, 3}},
		{3, []int{1, 2, 3}},
		{4, []int{1, 2, 3, 5}},
		{5, []int{0, 1, 2, 3, 5}},
	} {
		want := softmaxOf(logits, 1, tc.keep)
		counts := make([]float64, len(logits))
		for range n {
			counts[s.pick(logits, GenerateOptions{Temperature: 1, TopK: tc.k, TopP: 1}, rng)]++
		}
		for i := range counts {
			if d := math.Abs(counts[i]/n - want[i]); d > 0.01 || (want[i] == 0) != (counts[i] == 0) {
				t.Errorf("top_k %d: token %d frequency %.4f, want %.4f", tc.k, i, counts[i]/n, want[i])
			}
		}
	}
}

// softmaxOf is softmax(logits/temp) restricted to keep (nil: all).
func softmaxOf(logits []float32, temp float64, keep []int) []float64 {
	p := make([]float64, len(logits))
	var s float64
	for i, v := range logits {
		if keep == nil || slices.Contains(keep, i) {
			p[i] = math.Exp(float64(v) / temp)
			s += p[i]
		}
	}
	for i := range p {
		p[i] /= s
	}
	return p
}
