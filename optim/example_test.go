package optim_test

import (
	"fmt"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/optim"
	"github.com/golora/golora/tensor"
)

func ExampleSchedule() {
	s, err := optim.NewSchedule("linear", 2, 6)
	if err != nil {
		panic(err)
	}
	for step := 0; step <= 6; step++ {
		fmt.Printf("%.2f ", s.Multiplier(step))
	}
	fmt.Println()
	// Output: 0.00 0.50 1.00 0.75 0.50 0.25 0.00
}

func ExampleAdamW() {
	// Minimise (w − 3)² from w = 0 with AdamW, cosine schedule, clipping.
	w := nn.NewParam("w", tensor.FromF32([]float32{0}, 1))
	if err := w.SetTrainable(true); err != nil {
		panic(err)
	}
	params := []*nn.Param{w}
	cfg := optim.DefaultAdamW()
	cfg.LR, cfg.WeightDecay = 0.1, 0
	opt, err := optim.NewAdamW(params, cfg)
	if err != nil {
		panic(err)
	}
	const steps = 300
	sched, err := optim.NewSchedule("cosine", 10, steps)
	if err != nil {
		panic(err)
	}
	for step := range steps {
		w.Grad.F32()[0] = 2 * (w.Value.F32()[0] - 3)
		if _, err := optim.ClipGradNorm(params, 1); err != nil {
			panic(err)
		}
		opt.SetLR(cfg.LR * sched.Multiplier(step))
		opt.Step()
	}
	fmt.Printf("w = %.3f\n", w.Value.F32()[0])
	// Output: w = 3.000
}
