package llama

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// GenerateOptions are the decoding settings of Generate, with the names
// and defaults of transformers' GenerationConfig where it has them.
type GenerateOptions struct {
	MaxNewTokens int // max_new_tokens
	// Temperature 0 decodes greedily (do_sample=False); above 0, tokens
	// are sampled from softmax(logits/Temperature), restricted by TopK and
	// TopP as transformers' warpers do, in that order.
	Temperature float64
	TopK        int     // top_k: keep the k most likely tokens and any tied with the k-th (0: off; transformers' default is 50)
	TopP        float64 // top_p: keep the smallest set with this much probability (1: off)
	Seed        uint64  // the sampling generator's seed
	// EOS are the token ids that end generation (eos_token_id); the EOS
	// token itself is returned.
	EOS []int
}

// Generate continues the prompt (token ids) by up to MaxNewTokens tokens
// with a KV cache: the prompt runs through the model once, and each new
// token costs one token's projections and attention over the cache. emit,
// when not nil, receives every new token as it is chosen and may stop the
// generation by returning false. Generate returns the new tokens. The
// model runs in evaluation mode and is left in it; gradients are not
// touched.
func (m *Model) Generate(prompt []int32, o GenerateOptions, emit func(int32) bool) ([]int32, error) {
	c := &m.Config
	if len(prompt) == 0 {
		return nil, fmt.Errorf("llama: generate: empty prompt (it needs at least one token, e.g. bos_token_id)")
	}
	for i, id := range prompt {
		if id < 0 || int(id) >= c.VocabSize {
			return nil, fmt.Errorf("llama: generate: prompt token %d is id %d, outside the vocabulary of %d", i, id, c.VocabSize)
		}
	}
	if o.MaxNewTokens < 0 || !(o.Temperature >= 0) || o.TopK < 0 || !(o.TopP > 0 && o.TopP <= 1) {
		return nil, fmt.Errorf("llama: generate: need max_new_tokens >= 0, temperature >= 0, top_k >= 0 and top_p in (0, 1]; got %d, %v, %d, %v",
			o.MaxNewTokens, o.Temperature, o.TopK, o.TopP)
	}
	capacity := len(prompt) + o.MaxNewTokens
	if capacity > c.MaxPositionEmbeddings {
		return nil, fmt.Errorf("llama: generate: %d prompt + %d new tokens exceed max_position_embeddings %d", len(prompt), o.MaxNewTokens, c.MaxPositionEmbeddings)
	}
	if o.MaxNewTokens == 0 {
		return nil, nil
	}
	m.SetTraining(false)
	m.attachCache(capacity)
	defer m.detachCache()
	rng := rand.New(rand.NewPCG(o.Seed, 0x67656e6572617465)) // "generate"
	var out []int32
	logits := m.step(prompt)
	s := newSampler(c.VocabSize)
	for len(out) < o.MaxNewTokens {
		next := s.pick(logits, o, rng)
		out = append(out, next)
		if emit != nil && !emit(next) {
			break
		}
		if slices.Contains(o.EOS, int(next)) || len(out) == o.MaxNewTokens {
			break
		}
		logits = m.step([]int32{next})
	}
	return out, nil
}

// attachCache gives every attention a KV cache of capacity tokens.
func (m *Model) attachCache(capacity int) {
	w := m.Config.NumKeyValueHeads * m.Config.HeadDim()
	for _, l := range m.Layers {
		l.SelfAttn.Cache = nn.NewKVCache(1, capacity, w)
	}
}

func (m *Model) detachCache() {
	for _, l := range m.Layers {
		l.SelfAttn.Cache = nil
	}
}

// step runs tokens through the model with the cache attached and returns
// the logits of the last one.
func (m *Model) step(tokens []int32) []float32 {
	T := len(tokens)
	m.setMask(nil)
	h := m.EmbedTokens.Forward(tokens, 1, T)
	for i := range m.Layers {
		h = m.stack.Forward(i, h)
	}
	H := m.Config.HiddenSize
	last := tensor.FromF32(h.F32()[(T-1)*H:T*H], 1, 1, H)
	return m.LMHead.Forward(m.Norm.Forward(last)).F32()
}

// sampler chooses tokens; it keeps its scratch between steps.
type sampler struct {
	p   []float64
	idx []int
}

func newSampler(vocab int) *sampler {
	return &sampler{p: make([]float64, vocab), idx: make([]int, vocab)}
}

// pick returns the arg-max (greedy) or a token sampled after temperature,
// top-k and top-p, as transformers' TemperatureLogitsWarper,
// TopKLogitsWarper and TopPLogitsWarper.
func (s *sampler) pick(logits []float32, o GenerateOptions, rng *rand.Rand) int32 {
	if o.Temperature == 0 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return int32(best)
	}
	n := len(logits)
	for i := range s.idx {
		s.idx[i] = i
	}
	// Descending by logit (ties by id, for determinism).
	slices.SortFunc(s.idx, func(a, b int) int {
		switch {
		case logits[a] > logits[b]:
			return -1
		case logits[a] < logits[b]:
			return 1
		}
		return a - b
	})
	keep := n
	if o.TopK > 0 && o.TopK < keep {
		// Every token scoring at least the k-th largest stays, ties
		// included (TopKLogitsWarper removes only scores < that value).
		keep = o.TopK
		for keep < n && logits[s.idx[keep]] == logits[s.idx[keep-1]] {
			keep++
		}
	}
	mx := float64(logits[s.idx[0]]) / o.Temperature
	var sum float64
	for r := 0; r < keep; r++ {
		v := math.Exp(float64(logits[s.idx[r]])/o.Temperature - mx)
		s.p[r] = v
		sum += v
	}
	if o.TopP < 1 { // the smallest prefix holding top_p of the (renormalised) mass
		var cum float64
		for r := 0; r < keep; r++ {
			cum += s.p[r] / sum
			if cum >= o.TopP {
				keep = r + 1
				break
			}
		}
		sum = 0
		for r := 0; r < keep; r++ {
			sum += s.p[r]
		}
	}
	u := rng.Float64() * sum
	for r := 0; r < keep; r++ {
		if u -= s.p[r]; u < 0 {
			return int32(s.idx[r])
		}
	}
	return int32(s.idx[keep-1])
}
