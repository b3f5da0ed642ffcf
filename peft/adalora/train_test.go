package adalora_test

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/adalora"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
	"github.com/golora/golora/train"
)

const testdata = "../../testdata"

// refImages is the generator's batch: 3 images and labels [3, 0, 4].
type refImages struct {
	pix    []float32
	labels []int32
}

func (r refImages) Len() int     { return len(r.labels) }
func (r refImages) Shape() []int { return []int{3, 16, 16} }
func (r refImages) Example(i int, dst []float32) int32 {
	copy(dst, r.pix[i*len(dst):(i+1)*len(dst)])
	return r.labels[i]
}

func mustLoad(t *testing.T, path string) *safetensors.File {
	t.Helper()
	f, err := safetensors.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustTensor(t *testing.T, f *safetensors.File, name string) *tensor.Tensor {
	t.Helper()
	x, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func relErr(a, b []float32) float64 {
	var d, m float64
	for i := range b {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = math.Max(m, math.Abs(float64(b[i])))
	}
	return d / math.Max(m, 1e-30)
}

// newRun loads the tiny ViT with the generator's AdaLoRA adapter, trainable,
// and a Trainer over the reference batch with the generator's
// hyper-parameters (AdamW, constant lr 5e-3, no decay, no clipping, one
// step per batch of 3), the model's hooks and, when out is set, a
// checkpoint every step.
func newRun(t *testing.T, out string) (*adalora.Model, *vit.Model, *train.Trainer) {
	t.Helper()
	base, err := vit.Load(filepath.Join(testdata, "vit-tiny"), vit.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := adalora.Load(base, filepath.Join(testdata, "adalora", "adapter"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetTrainable(true); err != nil {
		t.Fatal(err)
	}
	exp := mustLoad(t, filepath.Join(testdata, "adalora", "expected.safetensors"))
	a := train.DefaultArgs()
	a.OutputDir = out
	a.LearningRate, a.LRSchedulerType, a.WeightDecay, a.MaxGradNorm = 5e-3, "constant", 0, 0
	a.PerDeviceTrainBatchSize, a.MaxSteps, a.LoggingSteps, a.SaveSteps, a.Quiet = 3, m.Config().TotalStep, 1, 0, true
	if out != "" {
		a.SaveSteps = 1
	}
	ds := refImages{pix: mustTensor(t, exp, "pixel_values").F32(), labels: []int32{3, 0, 4}}
	return m, base, &train.Trainer{Args: a, Model: base, TrainData: train.ImageDataset(ds), Hooks: m}
}

// TestTrainingAgainstPyTorch: ten steps of AdaLoRA training through the
// Trainer's hooks (regulariser after backward, update_and_allocate after
// the optimizer step) follow PEFT's documented loop as
// testdata/gen_adalora.py runs it in float64: the loss of every step
// (cross-entropy + regulariser), every parameter after the last step, and
// the final rank pattern (four mask decisions on the budget schedule, the
// final one at total_step − tfinal, re-applied after).
func TestTrainingAgainstPyTorch(t *testing.T) {
	ref := mustLoad(t, filepath.Join(testdata, "adalora", "train.safetensors"))
	m, base, tr := newRun(t, "")
	res, err := tr.Train()
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for _, rec := range res.History {
		if rec.Loss == nil {
			continue
		}
		want := float64(mustTensor(t, ref, fmt.Sprintf("loss.%d", rec.Step-1)).F32()[0])
		if math.Abs(*rec.Loss-want) > 1e-4*want {
			t.Errorf("step %d: loss %.7g, PyTorch %.7g", rec.Step, *rec.Loss, want)
		}
		steps++
	}
	if steps != m.Config().TotalStep {
		t.Errorf("%d logged losses, want %d", steps, m.Config().TotalStep)
	}
	for _, p := range nn.TrainableParams(base) {
		key := "final." + p.Name
		if len(key) > 8 && key[len(key)-8:] == ".default" {
			key = key[:len(key)-8]
		}
		if e := relErr(p.Value.F32(), mustTensor(t, ref, key).F32()); e > 1e-4 {
			t.Errorf("%s after training: relative error %g", key, e)
		}
	}
	for _, l := range m.Layers() {
		want := mustTensor(t, ref, "mask."+l.Name()).F32()
		got := m.Config().RankPattern[l.Name()+".lora_E"]
		for i, w := range want {
			if got[i] != (w == 1) {
				t.Errorf("%s: final rank pattern %v, PEFT's %v", l.Name(), got, want)
				break
			}
			if !got[i] && l.E.Value.F32()[i] != 0 {
				t.Errorf("%s: masked lora_E[%d] = %g", l.Name(), i, l.E.Value.F32()[i])
			}
		}
	}
}

// TestTrainingResumesBitwise: a run resumed from its step-4 checkpoint
// (between two allocations: the sensitivity averages and the rank pattern
// travel in hooks.safetensors) writes exactly the bits of the
// uninterrupted run's checkpoints 5 to 10 (parameters, optimizer, hook
// state) and ends with the same parameters.
func TestTrainingResumesBitwise(t *testing.T) {
	dir, dir2 := t.TempDir(), t.TempDir()
	_, base, tr := newRun(t, dir)
	if _, err := tr.Train(); err != nil {
		t.Fatal(err)
	}
	m2, base2, tr2 := newRun(t, dir2)
	if err := tr2.Resume(train.CheckpointDir(dir, 4)); err != nil {
		t.Fatal(err)
	}
	if m2.Config().RankPattern == nil || len(m2.HookState()) == 0 {
		t.Fatal("the resumed run has no rank pattern or sensitivities: the hook state was not restored")
	}
	if _, err := tr2.Train(); err != nil {
		t.Fatal(err)
	}
	for step := 5; step <= 10; step++ {
		for _, f := range []string{train.ParamsFile, train.OptimizerFile, train.HooksFile} {
			a := mustLoad(t, filepath.Join(train.CheckpointDir(dir, step), f))
			b := mustLoad(t, filepath.Join(train.CheckpointDir(dir2, step), f))
			if fmt.Sprint(a.Names()) != fmt.Sprint(b.Names()) {
				t.Fatalf("checkpoint-%d/%s: keys %v resumed, %v uninterrupted", step, f, b.Names(), a.Names())
			}
			for _, k := range a.Names() {
				ra, _, _ := a.Raw(k)
				rb, _, _ := b.Raw(k)
				if string(ra) != string(rb) {
					t.Errorf("checkpoint-%d/%s: %s differs after resuming", step, f, k)
				}
			}
		}
	}
	want := nn.TrainableParams(base)
	for i, p := range nn.TrainableParams(base2) {
		for j, v := range p.Value.F32() {
			if w := want[i].Value.F32()[j]; math.Float32bits(v) != math.Float32bits(w) {
				t.Fatalf("%s[%d] = %v resumed, %v uninterrupted", p.Name, j, v, w)
			}
		}
	}
}
