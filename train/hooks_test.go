package train

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// testHooks adds 1 to every gradient of one parameter after backward and
// returns extra as the loss term; it records the steps it sees and counts
// AfterStep calls in its state.
type testHooks struct {
	param       *nn.Param
	extra       float64
	back, after []int
	calls       float32
	loaded      bool
}

func (h *testHooks) AfterBackward(step int) (float64, error) {
	h.back = append(h.back, step)
	for i := range h.param.Grad.F32() {
		h.param.Grad.F32()[i]++
	}
	return h.extra, nil
}

func (h *testHooks) AfterStep(step int) error {
	h.after = append(h.after, step)
	h.calls++
	return nil
}

type statefulHooks struct{ *testHooks }

func (h statefulHooks) HookState() map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{"calls": tensor.FromF32([]float32{h.calls}, 1)}
}

func (h statefulHooks) LoadHookState(sd map[string]*tensor.Tensor) error {
	c, ok := sd["calls"]
	if !ok || len(sd) != 1 {
		return fmt.Errorf("want exactly \"calls\", got %d tensors", len(sd))
	}
	h.calls, h.loaded = c.F32()[0], true
	return nil
}

func paramNamed(t *testing.T, m nn.Module, name string) *nn.Param {
	for _, p := range nn.AllParams(m) {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no parameter %s", name)
	return nil
}

// TestStepHooks: AfterBackward runs once per optimizer step before
// clipping (its gradient shows in the logged norm) and its value joins the
// logged loss; AfterStep runs after every update; steps count from 0.
func TestStepHooks(t *testing.T) {
	ds := newBlobs(64, 4, 4, 3)
	run := func(h StepHooks) *Result {
		a := tinyArgs("")
		a.MaxSteps, a.LoggingSteps, a.LearningRate, a.GradientAccumulationSteps = 6, 1, 0, 2
		m := newTiny(16, 12, 4, 5)
		if th, ok := h.(*testHooks); ok {
			th.param = paramNamed(t, m, "fc2.bias")
		}
		res, err := (&Trainer{Args: a, Model: m, TrainData: ds, Hooks: h}).Train()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	plain := run(nil)
	h := &testHooks{extra: 0.5}
	hooked := run(h)
	want := []int{0, 1, 2, 3, 4, 5}
	if fmt.Sprint(h.back) != fmt.Sprint(want) || fmt.Sprint(h.after) != fmt.Sprint(want) {
		t.Errorf("AfterBackward at %v, AfterStep at %v; want both at %v", h.back, h.after, want)
	}
	for i, r := range hooked.History {
		p := plain.History[i]
		if math.Abs(*r.Loss-(*p.Loss+0.5)) > 1e-12 {
			t.Errorf("step %d: loss %g with the hook, %g without: want +0.5", r.Step, *r.Loss, *p.Loss)
		}
		if !(*r.GradNorm > *p.GradNorm) {
			t.Errorf("step %d: gradient norm %g with the hook, %g without: the hook ran after clipping?", r.Step, *r.GradNorm, *p.GradNorm)
		}
	}
}

// TestStatefulHooksCheckpoint: the hooks' state goes into every checkpoint
// and comes back on Resume; a checkpoint without it is refused.
func TestStatefulHooksCheckpoint(t *testing.T) {
	ds := newBlobs(64, 4, 4, 3)
	dir := t.TempDir()
	args := func(out string) Args {
		a := tinyArgs(out)
		a.MaxSteps, a.SaveSteps = 6, 3
		return a
	}
	newTrainer := func(out string, h StepHooks) *Trainer {
		m := newTiny(16, 12, 4, 5)
		if s, ok := h.(statefulHooks); ok {
			s.param = paramNamed(t, m, "fc2.bias")
		}
		return &Trainer{Args: args(out), Model: m, TrainData: ds, Hooks: h}
	}
	h := statefulHooks{&testHooks{}}
	if _, err := newTrainer(dir, h).Train(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(CheckpointDir(dir, 3), HooksFile)); err != nil {
		t.Fatalf("checkpoint without the hooks' state: %v", err)
	}
	h2 := statefulHooks{&testHooks{}}
	tr := newTrainer(filepath.Join(t.TempDir(), "b"), h2)
	if err := tr.Resume(CheckpointDir(dir, 3)); err != nil {
		t.Fatal(err)
	}
	if !h2.loaded || h2.calls != 3 {
		t.Fatalf("resumed hooks: loaded %v, calls %v; want the 3 of the checkpoint", h2.loaded, h2.calls)
	}
	if _, err := tr.Train(); err != nil {
		t.Fatal(err)
	}
	if h2.calls != 6 || fmt.Sprint(h2.after) != "[3 4 5]" {
		t.Errorf("after resuming: calls %v, steps %v; want 6 and [3 4 5]", h2.calls, h2.after)
	}
	// A checkpoint written without stateful hooks cannot feed them.
	plainDir := t.TempDir()
	if _, err := newTrainer(plainDir, nil).Train(); err != nil {
		t.Fatal(err)
	}
	err := newTrainer(t.TempDir(), statefulHooks{&testHooks{}}).Resume(CheckpointDir(plainDir, 3))
	if err == nil || !strings.Contains(err.Error(), "hooks") {
		t.Errorf("resuming stateful hooks from a checkpoint without their state: %v", err)
	}
}

// TestLRScale: the Trainer hands LRScale to the optimizer: a zero
// multiplier freezes a parameter, a unit one changes nothing.
func TestLRScale(t *testing.T) {
	ds := newBlobs(64, 4, 4, 3)
	run := func(scale func(*nn.Param) float64) map[string][]float32 {
		a := tinyArgs("")
		a.MaxSteps = 4
		m := newTiny(16, 12, 4, 5)
		if _, err := (&Trainer{Args: a, Model: m, TrainData: ds, LRScale: scale}).Train(); err != nil {
			t.Fatal(err)
		}
		return paramsOf(m)
	}
	init := paramsOf(newTiny(16, 12, 4, 5))
	plain := run(nil)
	unit := run(func(*nn.Param) float64 { return 1 })
	frozen := run(func(p *nn.Param) float64 {
		if p.Name == "fc1.weight" {
			return 0
		}
		return 1
	})
	for name, v := range plain {
		if fmt.Sprint(unit[name]) != fmt.Sprint(v) {
			t.Errorf("%s: a unit LRScale changed the result", name)
		}
		moved := fmt.Sprint(frozen[name]) != fmt.Sprint(init[name])
		if moved == (name == "fc1.weight") {
			t.Errorf("%s: moved %v with a zero multiplier on fc1.weight only", name, moved)
		}
	}
}
