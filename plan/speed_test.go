package plan

import (
	"slices"
	"testing"
	"time"

	"github.com/golora/golora/models/vit"
)

// TestStepTimeModel checks the step-time model against real steps, loosely:
// the machine is shared, so only a gross error (a missing term, a wrong
// unit) can fail it; the benchmark reports the real agreement.
func TestStepTimeModel(t *testing.T) {
	if testing.Short() {
		t.Skip("calibrates kernels")
	}
	c := vit.Preset(64, 8, 6) // vit-small-64
	s := methods(t, c)["lora"]
	s.LoRA.LoraDropout = 0
	const batch = 4
	m, err := Build(s, true, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRunner(m, batch, 1)
	if err != nil {
		t.Fatal(err)
	}
	var ms []float64
	for i := 0; i < 4; i++ {
		start := time.Now()
		if _, err := r.Step(); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, float64(time.Since(start).Nanoseconds())/1e6)
	}
	slices.Sort(ms)
	sp := Calibrate(m.Base.Dims(), batch, s.LoRA.R, s.Storage())
	if sp.Linear <= 0 || sp.Attention <= 0 || sp.LowRank <= 0 || sp.BlockForwardNS <= 0 || sp.BlockBackwardNS <= 0 || sp.AdamNSPerValue <= 0 {
		t.Fatalf("calibration %v", sp)
	}
	e := m.Estimate(batch)
	// Wall-clock agreement is a benchmark (golora bench train prints planned
	// beside measured), not an assertion: on shared cores it would flake.
	pred, meas := sp.StepMS(e), ms[1] // the best but one of four
	if !(pred > 0) {
		t.Fatalf("predicted step time %v", pred)
	}
	t.Logf("predicted %.1f ms per step, measured %.1f ms (%s)", pred, meas, sp)
	// The model is additive: more FLOPs or blocks cost more.
	e2 := e
	e2.Forward *= 2
	e2.BlockForwards *= 2
	if sp.StepMS(e2) <= sp.StepMS(e) {
		t.Error("doubling the forward did not add time")
	}
}
