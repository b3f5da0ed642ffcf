package vit

import (
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// step runs one training step (forward, cross-entropy, backward) at the
// given global step on a fixed random batch.
func step(t *testing.T, m *Model, ce *nn.CrossEntropyLoss, s uint64, batch int) {
	t.Helper()
	c := &m.Config
	rng := rand.New(rand.NewPCG(uint64(batch), s))
	pix := tensor.New(tensor.F32, batch, c.NumChannels, c.ImageSize, c.ImageSize)
	nn.Normal(pix, 1, rng)
	labels := make([]int32, batch)
	for i := range labels {
		labels[i] = int32(rng.IntN(c.NumLabels))
	}
	nn.SetStep(m, s)
	if _, err := ce.Forward(m.Forward(pix), labels); err != nil {
		t.Fatal(err)
	}
	m.Backward(ce.Backward())
}

// trainSetups are trainability patterns that exercise every backward path.
var trainSetups = []struct {
	name  string
	train []string // module names; "" is the whole model
	input bool
}{
	{name: "full", train: []string{""}},
	{name: "classifier only", train: []string{"classifier"}},
	{name: "top block attention", train: []string{"vit.encoder.layer.2.attention.attention.value", "classifier"}},
	{name: "middle block mlp", train: []string{"vit.encoder.layer.1.intermediate", "vit.layernorm"}},
	{name: "embeddings, input grad", train: []string{"vit.embeddings"}, input: true},
}

func setupModel(t *testing.T, cfg Config, train []string, input, ckpt bool) *Model {
	t.Helper()
	m, err := New(cfg, 11)
	if err != nil {
		t.Fatal(err)
	}
	setTrainable(t, m, train...)
	m.InputGrad = input
	if ckpt {
		m.SetGradientCheckpointing(true)
	}
	return m
}

func threeLayers() Config {
	c := microConfig()
	c.NumHiddenLayers = 3
	return c
}

// TestCheckpointGradients checks that gradient checkpointing changes
// nothing in the gradients (bitwise: the recomputation repeats the same
// kernels on the same inputs, dropout masks included) over two steps.
func TestCheckpointGradients(t *testing.T) {
	for _, s := range trainSetups {
		t.Run(s.name, func(t *testing.T) {
			plain := setupModel(t, threeLayers(), s.train, s.input, false)
			ckpt := setupModel(t, threeLayers(), s.train, s.input, true)
			var ce1, ce2 nn.CrossEntropyLoss
			for st := uint64(4); st < 6; st++ {
				plain.ZeroGrads()
				ckpt.ZeroGrads()
				step(t, plain, &ce1, st, 3)
				step(t, ckpt, &ce2, st, 3)
				pp, cp := nn.TrainableParams(plain), nn.TrainableParams(ckpt)
				for i, p := range pp {
					a, b := p.Grad.F32(), cp[i].Grad.F32()
					nonzero := false
					for j := range a {
						nonzero = nonzero || a[j] != 0
						if a[j] != b[j] {
							t.Fatalf("step %d: %s[%d] = %v with checkpointing, %v without", st, p.Name, j, b[j], a[j])
						}
					}
					if !nonzero {
						t.Errorf("%s: zero gradient, the comparison proves nothing", p.Name)
					}
				}
			}
		})
	}
}

// TestPlanMatchesStep checks that what a model's first training step
// allocates and computes is exactly what Model.Plan declares, and that the
// second step allocates nothing, with and without checkpointing.
func TestPlanMatchesStep(t *testing.T) {
	for _, s := range trainSetups {
		for _, ckpt := range []bool{false, true} {
			name := s.name
			if ckpt {
				name += ", checkpointing"
			}
			t.Run(name, func(t *testing.T) {
				m := setupModel(t, threeLayers(), s.train, s.input, ckpt)
				const batch = 2
				var ce nn.CrossEntropyLoss
				before, c0 := memory.Take().Allocated, kernels.ReadCounters()
				step(t, m, &ce, 1, batch)
				got, flops := memory.Take().Allocated.Sub(before), kernels.ReadCounters().Sub(c0).Flops
				c := &m.Config
				want := m.Plan([]int{batch, c.NumChannels, c.ImageSize, c.ImageSize}, true)
				// The loss is not part of the model.
				total := want.Total().Add(ce.Plan([]int{batch, c.NumLabels}, true).Total())
				if got != total {
					t.Errorf("allocated %v, declared %v", got.Map(), total.Map())
				}
				if flops != want.FLOPs() {
					t.Errorf("ran %d GEMM FLOPs, declared %d (forward %d, dX %d, dW %d)", flops, want.FLOPs(), want.Forward, want.BackwardDX, want.BackwardDW)
				}
				before = memory.Take().Allocated
				step(t, m, &ce, 2, batch)
				if d := memory.Take().Allocated.Sub(before); d.Total() != 0 {
					t.Errorf("second step allocated %v", d.Map())
				}
			})
		}
	}
}

// TestCheckpointSavesActivations checks the point of checkpointing: with
// many blocks the activations shrink to the block inputs plus one block.
func TestCheckpointSavesActivations(t *testing.T) {
	c := threeLayers()
	c.NumHiddenLayers = 8
	in := []int{4, c.NumChannels, c.ImageSize, c.ImageSize}
	plain := setupModel(t, c, []string{""}, false, false).Plan(in, true).Total()
	ckpt := setupModel(t, c, []string{""}, false, true).Plan(in, true).Total()
	if r := float64(ckpt[memory.Activations]) / float64(plain[memory.Activations]); r > 0.35 {
		t.Errorf("checkpointed activations are %.2fx of plain ones, want <= 0.35", r)
	}
}
