package zero

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/optim"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/tensor"
)

// config is a small ViT with dropout everywhere (so the ranks' masks
// matter), without query/key/value biases: the key bias's gradient is zero
// in exact arithmetic (softmax ignores a shift), so with AdamW its values
// are rounding noise, different between any two summation orders.
func config() vit.Config {
	c := vit.DefaultConfig()
	c.QKVBias = false
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 12, 2, 2, 20
	c.ImageSize, c.PatchSize, c.NumChannels = 8, 4, 1
	c.HiddenDropoutProb, c.AttentionProbsDropoutProb = 0.1, 0.1
	c.SetLabels(vit.DefaultLabels(3))
	return c
}

// newModel is the test model: full fine-tuning, or LoRA (with dropout) on
// query and value plus the classifier.
func newModel(t testing.TB, method string) *vit.Model {
	m, err := vit.New(config(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if method == "full" {
		for _, p := range nn.AllParams(m) {
			if err := p.SetTrainable(true); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	c := lora.DefaultConfig()
	c.R, c.LoraAlpha, c.LoraDropout = 4, 8, 0.1
	c.TargetModules = lora.TargetList("query", "value")
	c.ModulesToSave = []string{"classifier"}
	if _, err := lora.Inject(m, c, 3); err != nil {
		t.Fatal(err)
	}
	// B starts at zero: move it, so that A's gradient is not zero.
	for _, p := range nn.TrainableParams(m) {
		if strings.Contains(p.Name, "lora_B") {
			nn.Normal(p.Value, 0.1, rand.New(rand.NewPCG(1, 1)))
		}
	}
	return m
}

// data is a global batch per micro-step: pixels and labels of
// steps·accum·n examples.
type data struct {
	pix    []float32
	labels []int32
	per    int // values per image
}

func newData(examples int) *data {
	c := config()
	d := &data{per: c.NumChannels * c.ImageSize * c.ImageSize}
	rng := rand.New(rand.NewPCG(9, 9))
	d.pix = make([]float32, examples*d.per)
	for i := range d.pix {
		d.pix[i] = float32(rng.NormFloat64())
	}
	d.labels = make([]int32, examples)
	for i := range d.labels {
		d.labels[i] = int32(rng.IntN(3))
	}
	return d
}

// run trains m for steps steps of accum micro-batches of b examples per
// rank as the trainer does (the loss of a step is the mean over the
// world's examples), with AdamW and clipping at maxNorm, and returns the
// trainable values by name.
type runConfig struct {
	method        string
	world, stage  int
	b, accum      int
	steps         int
	maxNorm       float64
	checkTraffic  bool
	before, after func(e *Engine, step int) error // hooks around each step
}

func adamw(ps []*nn.Param) (optim.Optimizer, error) {
	c := optim.DefaultAdamW()
	c.LR = 1e-2
	return optim.NewAdamW(ps, c)
}

func train(t *testing.T, rc runConfig, d *data) map[string][]float32 {
	t.Helper()
	out := make([]map[string][]float32, rc.world)
	err := collective.Run(rc.world, func(c collective.Comm) error {
		m := newModel(t, rc.method)
		count := collective.Count(c)
		e, err := New(count, m, Config{Stage: rc.stage, NewOptimizer: adamw})
		if err != nil {
			return err
		}
		defer e.Close()
		nn.SetBatchShard(m, c.Rank())
		var ce nn.CrossEntropyLoss
		c0 := count.Traffic()
		for s := 0; s < rc.steps; s++ {
			if rc.before != nil {
				if err := rc.before(e, s); err != nil {
					return err
				}
			}
			e.ZeroGrad()
			var loss float64
			for g := 0; g < rc.accum; g++ {
				lo := ((s*rc.accum+g)*rc.world + c.Rank()) * rc.b
				pix := tensor.FromF32(d.pix[lo*d.per:(lo+rc.b)*d.per], rc.b, 1, 8, 8)
				nn.SetStep(m, uint64(s*rc.accum+g))
				l, err := ce.Forward(m.Forward(pix), d.labels[lo:lo+rc.b])
				if err != nil {
					return err
				}
				share := 1 / float64(rc.accum*rc.world)
				dl := ce.Backward()
				kernels.Scale(dl.F32(), float32(share))
				m.Backward(dl)
				if err := e.EndBackward(); err != nil {
					return err
				}
				loss += l * share
			}
			sum := []float64{loss, 0}
			if err := e.SumScalars(sum); err != nil {
				return err
			}
			if err := e.Reduce(); err != nil {
				return err
			}
			if _, err := e.ClipGradNorm(rc.maxNorm); err != nil {
				return err
			}
			if err := e.Step(1e-2); err != nil {
				return err
			}
			if rc.checkTraffic {
				c1 := count.Traffic()
				if got, want := c1.Sub(c0), e.Layout().StepTraffic(rc.stage, rc.accum); got != want {
					return fmt.Errorf("step traffic %+v, planned %+v", got, want)
				}
				c0 = c1
			}
			if rc.after != nil {
				if err := rc.after(e, s); err != nil {
					return err
				}
			}
		}
		vals := map[string][]float32{}
		for _, p := range nn.TrainableParams(m) {
			vals[p.Name] = append([]float32(nil), p.Value.F32()...)
		}
		out[c.Rank()] = vals
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for r := 1; r < rc.world; r++ {
		if d := maxRelDiff(out[0], out[r]); d != 0 {
			t.Fatalf("%+v: rank %d's values differ from rank 0's by %g", rc, r, d)
		}
	}
	return out[0]
}

// maxRelDiff is max|a-b| / max|b| over all values of all tensors.
func maxRelDiff(a, b map[string][]float32) float64 {
	var diff, scale float64
	for name, av := range a {
		bv := b[name]
		if len(av) != len(bv) {
			return math.Inf(1)
		}
		for i := range av {
			diff = math.Max(diff, math.Abs(float64(av[i]-bv[i])))
			scale = math.Max(scale, math.Abs(float64(bv[i])))
		}
	}
	if len(a) != len(b) {
		return math.Inf(1)
	}
	return diff / math.Max(scale, 1e-30)
}

// TestStagesAgree: at one world size, ZeRO stages 0, 1 and 2 give the same
// bits (one micro-batch a step; with clipping active); with accumulation
// stage 2 adds in another order. N ranks with batch b match one rank with
// batch N·b within 1e-5, dropout masks included.
func TestStagesAgree(t *testing.T) {
	d := newData(4 * 3 * 2 * 3)
	for _, method := range []string{"full", "lora"} {
		for _, accum := range []int{1, 2} {
			ref := train(t, runConfig{method: method, world: 1, b: 6, accum: accum, steps: 4, maxNorm: 0.5}, d)
			for _, world := range []int{2, 3} {
				var stage0 map[string][]float32
				for stage := 0; stage <= 2; stage++ {
					rc := runConfig{method: method, world: world, stage: stage, b: 6 / world, accum: accum, steps: 4, maxNorm: 0.5, checkTraffic: true}
					got := train(t, rc, d)
					if stage == 0 {
						stage0 = got
						if moved := maxRelDiff(got, paramsNow(t, method)); moved < 1e-3 {
							t.Fatalf("%s: values barely moved (%g): the test would prove nothing", method, moved)
						}
					} else if diff := maxRelDiff(got, stage0); (accum == 1 && diff != 0) || diff > 1e-6 {
						t.Errorf("%s accum %d world %d: stage %d differs from stage 0 by %g", method, accum, world, stage, diff)
					}
					if diff := maxRelDiff(got, ref); diff > 1e-5 {
						t.Errorf("%s accum %d: world %d stage %d differs from one rank with the whole batch by %g", method, accum, world, stage, diff)
					} else {
						t.Logf("%s accum %d: world %d stage %d vs one rank: %.2g", method, accum, world, stage, diff)
					}
				}
			}
		}
	}
}

// paramsNow is the trainable values of a fresh model.
func paramsNow(t *testing.T, method string) map[string][]float32 {
	vals := map[string][]float32{}
	for _, p := range nn.TrainableParams(newModel(t, method)) {
		vals[p.Name] = append([]float32(nil), p.Value.F32()...)
	}
	return vals
}

// TestStateRoundTrip: the state gathered at any stage and world size is
// the one-process state dict (the same as stage 0's, bit for bit), and
// loading it at another world size and stage gathers back to the same.
func TestStateRoundTrip(t *testing.T) {
	d := newData(64)
	gather := func(world, stage int) map[string][]float32 {
		var st map[string][]float32
		train(t, runConfig{method: "lora", world: world, stage: stage, b: 2, accum: 1, steps: 3,
			after: func(e *Engine, s int) error {
				if s != 2 {
					return nil
				}
				sd, err := e.GatherState()
				if err != nil || e.Comm().Rank() != 0 {
					return err
				}
				st = flatten(sd)
				return nil
			}}, d)
		return st
	}
	want := gather(2, 0)
	for _, ws := range [][2]int{{2, 1}, {2, 2}} {
		if got := gather(ws[0], ws[1]); maxRelDiff(got, want) != 0 || len(got) != len(want) {
			t.Errorf("world %d stage %d: gathered state differs from stage 0's", ws[0], ws[1])
		}
	}
	// Load it at 3 ranks, stage 2, and gather again.
	sd := map[string]*tensor.Tensor{}
	for k, v := range want {
		sd[k] = tensor.FromF32(v, len(v))
	}
	var back map[string][]float32
	err := collective.Run(3, func(c collective.Comm) error {
		m := newModel(t, "lora")
		e, err := New(c, m, Config{Stage: 2, NewOptimizer: adamw})
		if err != nil {
			return err
		}
		full := map[string]*tensor.Tensor{}
		for _, p := range nn.TrainableParams(m) {
			for _, k := range []string{"exp_avg", "exp_avg_sq"} {
				full[p.Name+"."+k] = tensor.FromF32(sd[p.Name+"."+k].F32(), p.Value.Shape()...)
			}
			full[p.Name+".step"] = sd[p.Name+".step"]
		}
		if err := e.LoadState(full); err != nil {
			return err
		}
		g, err := e.GatherState()
		if c.Rank() == 0 {
			back = flatten(g)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if maxRelDiff(back, want) != 0 || len(back) != len(want) {
		t.Error("state loaded at 3 ranks gathers back differently")
	}
	// A state that does not fit is refused with the key at fault.
	err = collective.Run(2, func(c collective.Comm) error {
		e, err := New(c, newModel(t, "lora"), Config{Stage: 1, NewOptimizer: adamw})
		if err != nil {
			return err
		}
		return e.LoadState(map[string]*tensor.Tensor{"x.exp_avg": tensor.New(tensor.F32, 2)})
	})
	if err == nil || !strings.Contains(err.Error(), `does not fit the parameters: missing "classifier.bias.exp_avg"`) {
		t.Errorf("got %v", err)
	}
}

func flatten(sd map[string]*tensor.Tensor) map[string][]float32 {
	out := map[string][]float32{}
	for k, v := range sd {
		out[k] = append([]float32(nil), v.F32()...)
	}
	return out
}

// TestShardedMemory: what each rank allocates for gradients and optimizer
// state is what the Layout says (all of it, its shares, or stage 2's
// buffer plus shares), summed over the ranks of an in-process group.
func TestShardedMemory(t *testing.T) {
	for _, method := range []string{"full", "lora"} {
		for stage := 0; stage <= 2; stage++ {
			const world = 3
			models := make([]*vit.Model, world)
			for r := range models {
				models[r] = newModel(t, method)
			}
			a0 := memory.Take().Allocated
			var want memory.Bytes
			err := collective.Run(world, func(c collective.Comm) error {
				e, err := New(c, models[c.Rank()], Config{Stage: stage, NewOptimizer: adamw})
				if err != nil {
					return err
				}
				return e.Step(0) // nothing happens lazily
			})
			if err != nil {
				t.Fatal(err)
			}
			got := memory.Take().Allocated.Sub(a0)
			l, _ := NewLayout(models[0], world)
			for r := range world {
				want[memory.Gradients] += 4 * int64(l.GradientValues(stage, r))
				want[memory.Optimizer] += 8 * int64(l.OptimizerValues(stage, r))
			}
			if got[memory.Gradients] != want[memory.Gradients] || got[memory.Optimizer] != want[memory.Optimizer] {
				t.Errorf("%s stage %d: allocated gradients %d optimizer %d, layout says %d %d", method, stage,
					got[memory.Gradients], got[memory.Optimizer], want[memory.Gradients], want[memory.Optimizer])
			}
			if stage == 2 && l.MaxUnit() >= l.Total() {
				t.Errorf("%s: one unit (%d of %d values): stage 2 would save nothing", method, l.MaxUnit(), l.Total())
			}
		}
	}
}

func TestLayout(t *testing.T) {
	m := newModel(t, "lora")
	l, err := NewLayout(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	// classifier, then the two blocks' adapters; the final LayerNorm and
	// the embeddings train nothing.
	if len(l.Units) != 3 {
		t.Fatalf("%d units, want 3", len(l.Units))
	}
	if l.Units[0].Params[0].Name != "classifier.weight" || !strings.Contains(l.Units[1].Params[0].Name, "layer.1.") {
		t.Errorf("units start with %s, %s", l.Units[0].Params[0].Name, l.Units[1].Params[0].Name)
	}
	if l.Total() != len(flattenParams(m)) || l.Owned(0)+l.Owned(1) != l.Total() {
		t.Errorf("total %d, owned %d + %d", l.Total(), l.Owned(0), l.Owned(1))
	}
	if _, err := New(collective.Local{}, m, Config{Stage: 3, NewOptimizer: adamw}); err == nil {
		t.Error("stage 3 accepted")
	}
}

func flattenParams(m nn.Module) []float32 {
	var v []float32
	for _, p := range nn.TrainableParams(m) {
		v = append(v, p.Value.F32()...)
	}
	return v
}

// TestSyncParams: rank 0's trainable values reach every rank, and a rank
// whose frozen weights differ is refused.
func TestSyncParams(t *testing.T) {
	err := collective.Run(2, func(c collective.Comm) error {
		m := newModel(t, "lora")
		if c.Rank() == 1 {
			for _, p := range nn.TrainableParams(m) {
				nn.Fill(p.Value, 7)
			}
		}
		e, err := New(c, m, Config{Stage: 2, NewOptimizer: adamw})
		if err != nil {
			return err
		}
		if err := e.SyncParams(); err != nil {
			return err
		}
		if d := maxRelDiff(paramsOfModel(m), paramsOfModel(newModel(t, "lora"))); d != 0 {
			return fmt.Errorf("rank %d: trainable values differ from rank 0's by %g", c.Rank(), d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = collective.Run(2, func(c collective.Comm) error {
		m := newModel(t, "lora")
		if c.Rank() == 1 {
			m.Embeddings.CLSToken.Value.F32()[0] += 1e-6 // frozen
		}
		e, err := New(c, m, Config{Stage: 0, NewOptimizer: adamw})
		if err != nil {
			return err
		}
		return e.SyncParams()
	})
	if err == nil || !strings.Contains(err.Error(), "rank 1's model differs from rank 0's") {
		t.Errorf("got %v", err)
	}
}

func paramsOfModel(m nn.Module) map[string][]float32 {
	out := map[string][]float32{}
	for _, p := range nn.AllParams(m) {
		out[p.Name] = append([]float32(nil), p.Value.F32()...)
	}
	return out
}
