package lora_test

import (
	"testing"

	"github.com/golora/golora/data"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/tensor"
)

// BenchmarkViTStep times one forward and backward of the shipped base
// (assets/vit-mnist-0-4, batch 64) with LoRA and with DoRA (r 16 on query
// and value, the classifier trained): the sub-benchmarks alternate within
// each -count repetition, so their ratio is measured under the same load.
//
//	go test -run '^$' -bench ViTStep -count 6 ./peft/lora/
func BenchmarkViTStep(b *testing.B) {
	for _, tc := range []struct {
		name    string
		dora    bool
		dropout float64
	}{{"lora", false, 0}, {"dora", true, 0}, {"lora-dropout", false, 0.1}, {"dora-dropout", true, 0.1}} {
		b.Run(tc.name, func(b *testing.B) {
			m, err := models.Load("../../assets/vit-mnist-0-4", models.LoadOptions{})
			if err != nil {
				b.Fatal(err)
			}
			cfg := lora.DefaultConfig()
			cfg.R, cfg.LoraAlpha, cfg.LoraDropout, cfg.UseDoRA = 16, 16, tc.dropout, tc.dora
			cfg.TargetModules = lora.TargetList("query", "value")
			cfg.ModulesToSave = []string{"classifier"}
			if _, err := lora.Inject(m, cfg, 1); err != nil {
				b.Fatal(err)
			}
			nn.SetTraining(m, true)
			var batch data.Batch
			s := m.Spec()
			pix, tg := batch.SetImages(64, s.Channels, s.Height, s.Width)
			for i := range pix {
				pix[i] = float32(i%13)/13 - 0.5
			}
			for i := range tg {
				tg[i] = int32(i % 5)
			}
			var d *tensor.Tensor
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				nn.SetStep(m, uint64(i))
				logits := m.ForwardBatch(&batch)
				if d == nil {
					d = tensor.New(tensor.F32, logits.Shape()...)
					for j := range d.F32() {
						d.F32()[j] = 1e-3
					}
				}
				m.Backward(d)
			}
		})
	}
}
