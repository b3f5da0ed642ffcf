package optim

import (
	"fmt"
	"math"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// TestAdamWMatchesPyTorch replays the fixed gradient sequences that
// testdata/gen_reference.py fed to the real torch.optim.AdamW (torch 1.13,
// float32) and compares parameters and moments after every step.
func TestAdamWMatchesPyTorch(t *testing.T) {
	for _, tc := range []struct {
		file        string
		lr          []float64
		b1, b2, eps float64
		wd          float64
	}{
		{"expected", []float64{0.01, 0.01, 0.01, 0.01, 0.01}, 0.9, 0.999, 1e-8, 0.01},
		{"schedule", []float64{0.01, 0.03, 0.005, 0, 0.002}, 0.8, 0.99, 1e-6, 0},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := safetensors.Load("../testdata/adamw/" + tc.file + ".safetensors")
			if err != nil {
				t.Fatal(err)
			}
			get := func(name string) []float32 {
				x, err := f.Tensor(name)
				if err != nil {
					t.Fatal(err)
				}
				return x.F32()
			}
			p := nn.NewParam("w", tensor.FromF32(append([]float32(nil), get("param0")...), 7))
			if err := p.SetTrainable(true); err != nil {
				t.Fatal(err)
			}
			cfg := DefaultAdamW()
			cfg.LR, cfg.Beta1, cfg.Beta2, cfg.Eps, cfg.WeightDecay = tc.lr[0], tc.b1, tc.b2, tc.eps, tc.wd
			opt, err := NewAdamW([]*nn.Param{p}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for s := 1; s <= 5; s++ {
				copy(p.Grad.F32(), get(fmt.Sprintf("grad.%d", s)))
				opt.SetLR(tc.lr[s-1])
				opt.Step()
				sd := opt.StateDict()
				for _, c := range []struct {
					name string
					got  []float32
				}{
					{"param", p.Value.F32()},
					{"exp_avg", sd["w.exp_avg"].F32()},
					{"exp_avg_sq", sd["w.exp_avg_sq"].F32()},
				} {
					want := get(fmt.Sprintf("%s.%d", c.name, s))
					// Error relative to the tensor's scale: an element whose
					// moment is a near-cancelling sum of mixed-sign gradients
					// (m ≈ 8e-5 from g ≈ 1e-2) would magnify an ulp of its terms.
					var d, m float64
					for i := range want {
						d = math.Max(d, math.Abs(float64(c.got[i]-want[i])))
						m = math.Max(m, math.Abs(float64(want[i])))
					}
					if d > 1e-6*m {
						t.Errorf("step %d %s: max error %g relative to scale %g", s, c.name, d, m)
					}
				}
			}
		})
	}
}
