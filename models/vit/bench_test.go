package vit

import (
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// BenchmarkStep times one forward + cross-entropy + backward of ViT-Tiny
// (224px, patch 16, hidden 192, 12 layers, 3 heads) at batch 8, by what
// trains. It reports the GEMM work and its rate.
//
//	go test -run - -bench Step -benchtime 3x ./models/vit
func BenchmarkStep(b *testing.B) {
	cfg := DefaultConfig()
	cfg.HiddenSize, cfg.NumAttentionHeads, cfg.IntermediateSize = 192, 3, 768
	cfg.SetLabels(DefaultLabels(10))
	const batch = 8
	for _, bc := range []struct {
		name      string
		trainable func(m *Model) []nn.Module
	}{
		{"full", func(m *Model) []nn.Module { return []nn.Module{m} }},
		{"query_value_classifier", func(m *Model) []nn.Module {
			ms := []nn.Module{m.Classifier}
			for _, l := range m.Layers {
				ms = append(ms, l.Attention.Attention.Query, l.Attention.Attention.Value)
			}
			return ms
		}},
		{"classifier", func(m *Model) []nn.Module { return []nn.Module{m.Classifier} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m, err := New(cfg, 1)
			if err != nil {
				b.Fatal(err)
			}
			for _, mod := range bc.trainable(m) {
				for _, p := range nn.AllParams(mod) {
					p.SetTrainable(true)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			pix := tensor.New(tensor.F32, batch, 3, cfg.ImageSize, cfg.ImageSize)
			nn.Normal(pix, 1, rng)
			labels := make([]int32, batch)
			for i := range labels {
				labels[i] = int32(i % cfg.NumLabels)
			}
			var ce nn.CrossEntropyLoss
			step := func() {
				m.ZeroGrads()
				if _, err := ce.Forward(m.Forward(pix), labels); err != nil {
					b.Fatal(err)
				}
				m.Backward(ce.Backward())
			}
			step() // allocate the buffers
			before := kernels.ReadCounters()
			b.ResetTimer()
			for range b.N {
				step()
			}
			b.StopTimer()
			c := kernels.ReadCounters().Sub(before)
			gf := float64(c.Flops) / float64(b.N) / 1e9
			b.ReportMetric(gf, "GFLOP/step")
			b.ReportMetric(gf/(b.Elapsed().Seconds()/float64(b.N)), "GFLOP/s")
		})
	}
}
