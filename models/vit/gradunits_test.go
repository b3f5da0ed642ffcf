package vit

import (
	"slices"
	"testing"

	"github.com/golora/golora/nn"
)

// TestGradUnits: the units cover every parameter once, and each unit's
// gradients are final when Backward reports it (nothing later in the
// backward changes them), with and without checkpointing, for every
// trainability pattern.
func TestGradUnits(t *testing.T) {
	for _, ts := range trainSetups {
		for _, ckpt := range []bool{false, true} {
			m := setupModel(t, threeLayers(), ts.train, ts.input, ckpt)
			units := m.GradUnits()
			seen := map[*nn.Param]int{}
			for _, u := range units {
				for _, p := range nn.AllParams(u) {
					seen[p]++
				}
			}
			for _, p := range nn.AllParams(m) {
				if seen[p] != 1 {
					t.Fatalf("%s: %s is in %d units", ts.name, p.Name, seen[p])
				}
			}
			snap := map[*nn.Param][]float32{}
			var order []int
			m.OnGradUnit(func(u int) {
				order = append(order, u)
				for _, p := range nn.TrainableParams(units[u]) {
					snap[p] = append([]float32(nil), p.Grad.F32()...)
				}
			})
			var ce nn.CrossEntropyLoss
			step(t, m, &ce, 3, 2)
			for i := range order {
				if order[i] != i {
					t.Fatalf("%s: units reported in order %v", ts.name, order)
				}
			}
			for _, p := range nn.TrainableParams(m) {
				s, ok := snap[p]
				if !ok {
					// Only units below the lowest trainable one may go
					// unreported.
					t.Errorf("%s (checkpointing %v): %s's unit was not reported", ts.name, ckpt, p.Name)
					continue
				}
				if !slices.Equal(s, p.Grad.F32()) {
					t.Errorf("%s (checkpointing %v): %s changed after its unit was reported", ts.name, ckpt, p.Name)
				}
			}
		}
	}
}
