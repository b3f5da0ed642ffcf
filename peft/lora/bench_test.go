package lora_test

import (
	"testing"
	"time"

	"github.com/golora/golora/data"
	"github.com/golora/golora/internal/cpuclock"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/tensor"
)

// BenchmarkViTStep times one training step (forward and backward) of the
// shipped base (assets/vit-mnist-0-4, batch 64) with LoRA and with DoRA,
// with and without dropout (r 16 on query and value, the classifier
// trained), on one kernel thread. The four alternate step by step within
// every iteration, so they share whatever load the machine has; besides
// wall time per step it reports the process CPU time per step (getrusage),
// which other jobs on the machine disturb much less, and DoRA's ratios to
// LoRA.
//
//	go test -run '^$' -bench ViTStep -benchtime 40x ./peft/lora/
func BenchmarkViTStep(b *testing.B) {
	cases := []struct {
		name    string
		dora    bool
		dropout float64
	}{{"lora", false, 0}, {"dora", true, 0}, {"lora-dropout", false, 0.1}, {"dora-dropout", true, 0.1}}
	defer kernels.SetThreads(kernels.Threads())
	kernels.SetThreads(1)
	type run struct {
		m         models.Model
		batch     data.Batch
		d         *tensor.Tensor
		cpu, wall time.Duration
	}
	runs := make([]*run, len(cases))
	for i, tc := range cases {
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
		r := &run{m: m}
		s := m.Spec()
		pix, tg := r.batch.SetImages(64, s.Channels, s.Height, s.Width)
		for j := range pix {
			pix[j] = float32(j%13)/13 - 0.5
		}
		for j := range tg {
			tg[j] = int32(j % 5)
		}
		runs[i] = r
	}
	step := func(r *run, i int) {
		nn.SetStep(r.m, uint64(i))
		logits := r.m.ForwardBatch(&r.batch)
		if r.d == nil {
			r.d = tensor.New(tensor.F32, logits.Shape()...)
			for j := range r.d.F32() {
				r.d.F32()[j] = 1e-3
			}
		}
		r.m.Backward(r.d)
	}
	for _, r := range runs { // warm-up: buffers allocated
		step(r, 0)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range runs {
			c0, t0 := cpuTime(), time.Now()
			step(r, i+1)
			r.cpu += cpuTime() - c0
			r.wall += time.Since(t0)
		}
	}
	per := func(d time.Duration) float64 { return float64(d) / float64(b.N) / 1e6 }
	for i, tc := range cases {
		b.ReportMetric(per(runs[i].cpu), tc.name+"-cpu-ms/step")
		b.ReportMetric(per(runs[i].wall), tc.name+"-ms/step")
	}
	b.ReportMetric(float64(runs[1].cpu)/float64(runs[0].cpu), "dora/lora-cpu")
	b.ReportMetric(float64(runs[3].cpu)/float64(runs[2].cpu), "dora/lora-cpu-dropout")
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	t, _ := cpuclock.Process()
	return t
}
