package llama

import (
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/data"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
)

// BenchmarkStep times one forward + cross-entropy + backward of the
// llama-tiny preset (hidden 256, 4 layers, 4 heads over 2 key/value
// heads, vocabulary 4,096) on a batch of 4 sequences of 256 tokens, full
// fine-tuning and LoRA-style (q_proj, v_proj trainable), and reports the
// GEMM work and its rate.
//
//	go test -run - -bench Step -benchtime 3x ./models/llama
func BenchmarkStep(b *testing.B) {
	cfg := Preset(256, 4, 4, 2, 4096, 256)
	const batch, T = 4, 256
	for _, bc := range []struct {
		name string
		qv   bool
	}{{"full", false}, {"q_v", true}} {
		b.Run(bc.name, func(b *testing.B) {
			m, err := New(cfg, 1)
			if err != nil {
				b.Fatal(err)
			}
			for _, p := range nn.AllParams(m) {
				p.SetTrainable(!bc.qv)
			}
			if bc.qv {
				for _, l := range m.Layers {
					for _, p := range append(nn.AllParams(l.SelfAttn.Query), nn.AllParams(l.SelfAttn.Value)...) {
						p.SetTrainable(true)
					}
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			var bt data.Batch
			ids, _, tg := bt.SetTokens(batch, T, batch*T, false)
			for i := range ids {
				ids[i] = int32(rng.IntN(cfg.VocabSize))
				tg[i] = int32(rng.IntN(cfg.VocabSize))
			}
			var ce nn.CrossEntropyLoss
			step := func() {
				nn.ZeroGrads(m)
				if _, err := ce.Forward(m.ForwardBatch(&bt), bt.Targets); err != nil {
					b.Fatal(err)
				}
				m.Backward(ce.Backward())
			}
			step()
			c0 := kernels.ReadCounters()
			b.ResetTimer()
			for range b.N {
				step()
			}
			c := kernels.ReadCounters().Sub(c0)
			b.ReportMetric(float64(c.Flops)/float64(b.N)/1e9, "GFLOP/step")
			b.ReportMetric(float64(c.Flops)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
