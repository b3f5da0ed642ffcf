package train

import (
	"bytes"
	"errors"
	"github.com/golora/golora/data"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/lora"
)

// tinyArgs are fast settings for the tiny model.
func tinyArgs(dir string) Args {
	a := DefaultArgs()
	a.OutputDir = dir
	a.LearningRate = 1e-2
	a.PerDeviceTrainBatchSize = 8
	a.PerDeviceEvalBatchSize = 16
	a.MaxSteps = 40
	a.LoggingSteps = 5
	a.SaveSteps = 0
	a.Quiet = true
	return a
}

func TestLossDecreasesAndAccuracyRises(t *testing.T) {
	dir := t.TempDir()
	ds := newBlobs(320, 4, 4, 1)
	ev := newBlobsNoise(160, 4, 4, 1, 1) // same centres, other noise
	m := newTiny(16, 32, 4, 7)
	before, err := Evaluate(m, ev, 16)
	if err != nil {
		t.Fatal(err)
	}
	tr := &Trainer{Args: tinyArgs(dir), Model: m, TrainData: ds, EvalData: ev}
	res, err := tr.Train()
	if err != nil {
		t.Fatal(err)
	}
	var losses []float64
	for _, r := range res.History {
		if r.Loss != nil {
			losses = append(losses, *r.Loss)
		}
	}
	if len(losses) != 8 {
		t.Fatalf("got %d logged losses, want 8 (40 steps, every 5)", len(losses))
	}
	if !(losses[len(losses)-1] < 0.5*losses[0]) {
		t.Errorf("loss did not decrease enough: %v", losses)
	}
	if res.Eval == nil || !(res.Eval.Accuracy > 0.9) || !(res.Eval.Loss < before.Loss) {
		t.Errorf("eval before %+v, after %+v: want accuracy > 0.9 and a lower loss", before, res.Eval)
	}
	if res.GlobalStep != 40 || res.Steps != 40 || res.StepTime <= 0 {
		t.Errorf("result %+v: want 40 steps with a positive step time", res)
	}
	// metrics.jsonl holds the same history; the chart is a PNG.
	recs, err := ReadMetrics(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(res.History) || recs[len(recs)-1].EvalAccuracy == nil {
		t.Errorf("metrics.jsonl has %d records (last %+v), want %d ending with the evaluation", len(recs), recs[len(recs)-1], len(res.History))
	}
	f, err := os.Open(filepath.Join(dir, ChartFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("chart: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
		t.Errorf("chart is %v, want a readable size", b)
	}
}

// paramsOf copies the values of every parameter of m by name.
func paramsOf(m nn.Module) map[string][]float32 {
	out := map[string][]float32{}
	for _, p := range nn.AllParams(m) {
		out[p.Name] = append([]float32(nil), p.Value.F32()...)
	}
	return out
}

func TestGradientAccumulationEquivalence(t *testing.T) {
	ds := newBlobs(64, 4, 4, 3)
	run := func(batch, accum int, optim string) map[string][]float32 {
		m := newTiny(16, 12, 4, 5)
		a := tinyArgs("")
		a.Optim = optim
		a.LearningRate = 0.05
		a.PerDeviceTrainBatchSize, a.GradientAccumulationSteps = batch, accum
		a.MaxSteps = 6
		a.MaxGradNorm = 0.5 // clipping sees the accumulated gradient
		a.LoggingSteps = 0
		tr := &Trainer{Args: a, Model: m, TrainData: ds}
		if _, err := tr.Train(); err != nil {
			t.Fatal(err)
		}
		return paramsOf(m)
	}
	for _, opt := range []string{"sgd", "adamw"} {
		one, two := run(8, 1, opt), run(4, 2, opt)
		start := paramsOf(newTiny(16, 12, 4, 5))
		for name, v := range one {
			moved, diff := 0.0, 0.0
			for i := range v {
				moved = math.Max(moved, math.Abs(float64(v[i]-start[name][i])))
				diff = math.Max(diff, math.Abs(float64(v[i]-two[name][i])))
			}
			if moved < 1e-3 {
				t.Errorf("%s %s: parameters barely moved (%g): the test would prove nothing", opt, name, moved)
			}
			if diff > 2e-5 {
				t.Errorf("%s %s: batch 8 and 4x2 differ by %g", opt, name, diff)
			}
		}
	}
}

func TestScheduleApplied(t *testing.T) {
	ds := newBlobs(64, 4, 4, 3)
	for _, sched := range []string{"linear", "cosine", "constant_with_warmup"} {
		a := tinyArgs("")
		a.LRSchedulerType = sched
		a.LearningRate = 0.1
		a.MaxSteps, a.WarmupSteps, a.LoggingSteps = 10, 3, 1
		tr := &Trainer{Args: a, Model: newTiny(16, 8, 4, 1), TrainData: ds}
		res, err := tr.Train()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.History {
			s := float64(r.Step - 1) // the step the rate was used for (0-based)
			var want float64
			switch {
			case s < 3:
				want = 0.1 * s / 3
			case sched == "linear":
				want = 0.1 * (10 - s) / 7
			case sched == "cosine":
				want = 0.1 * 0.5 * (1 + math.Cos(math.Pi*(s-3)/7))
			default:
				want = 0.1
			}
			if math.Abs(*r.LearningRate-want) > 1e-9 {
				t.Errorf("%s: step %d: learning rate %v, want %v", sched, r.Step, *r.LearningRate, want)
			}
		}
	}
}

// killAfter panics after n Example calls: a stand-in for a process killed
// in the middle of a step.
type killAfter struct {
	Images
	n *int
}

func (k killAfter) Fill(bt *data.Batch, idx []int) { ImageDataset(k).Fill(bt, idx) }

type killed struct{}

func (k killAfter) Example(i int, dst []float32) int32 {
	if *k.n == 0 {
		panic(killed{})
	}
	*k.n--
	return k.Images.Example(i, dst)
}

// loraTiny is the tiny model with LoRA (dropout on, so masks matter)
// on fc1 and fc2 kept trainable in full.
func loraTiny(t *testing.T) *tinyModel {
	m := newTiny(16, 12, 4, 11)
	cfg := lora.DefaultConfig()
	cfg.R, cfg.LoraAlpha, cfg.LoraDropout = 4, 8, 0.2
	cfg.TargetModules = lora.TargetList("fc1")
	cfg.ModulesToSave = []string{"fc2"}
	lm, err := lora.Inject(m, cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	// LoRA B starts at zero; give both factors values so that dropout
	// changes the gradients from the first step on.
	for _, p := range nn.TrainableParams(lm.Base) {
		for i := range p.Value.F32() {
			p.Value.F32()[i] += 0.01 * float32(i%7-3)
		}
	}
	return m
}

func TestResumeIsBitwiseEqual(t *testing.T) {
	ds := newBlobs(96, 4, 4, 9)
	args := func(dir string) Args {
		a := tinyArgs(dir)
		a.NumTrainEpochs, a.MaxSteps = 3, 0 // 96/(4x2) = 12 steps per epoch: 36 steps over 3 epochs
		a.PerDeviceTrainBatchSize, a.GradientAccumulationSteps = 4, 2
		a.WarmupSteps = 4
		a.LRSchedulerType = "cosine"
		a.SaveSteps = 10
		a.LoggingSteps = 3
		return a
	}

	full := loraTiny(t)
	fullDir := t.TempDir()
	if _, err := (&Trainer{Args: args(fullDir), Model: full, TrainData: ds}).Train(); err != nil {
		t.Fatal(err)
	}

	// The interrupted run dies in the middle of step 17 (epoch 2), after
	// checkpoint-10 was written.
	dir := t.TempDir()
	calls := 16*8 + 5
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Fatal("the run was not interrupted")
			} else if _, ok := r.(killed); !ok {
				panic(r)
			}
		}()
		_, _ = (&Trainer{Args: args(dir), Model: loraTiny(t), TrainData: killAfter{ds, &calls}}).Train()
	}()
	ckpt, err := LatestCheckpoint(dir)
	if err != nil || filepath.Base(ckpt) != "checkpoint-10" {
		t.Fatalf("latest checkpoint %q, %v; want checkpoint-10", ckpt, err)
	}

	// A new process: a fresh model (same seed), resumed from the checkpoint.
	resumed := loraTiny(t)
	tr := &Trainer{Args: args(dir), Model: resumed, TrainData: ds}
	if err := tr.Resume(ckpt); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Train(); err != nil {
		t.Fatal(err)
	}
	want, got := paramsOf(full), paramsOf(resumed)
	start := paramsOf(loraTiny(t))
	for name, w := range want {
		same := true
		for i := range w {
			if math.Float32bits(w[i]) != math.Float32bits(got[name][i]) {
				t.Errorf("%s[%d]: resumed %v, uninterrupted %v", name, i, got[name][i], w[i])
				break
			}
			same = same && w[i] == start[name][i]
		}
		if same && strings.Contains(name, "lora_") {
			t.Errorf("%s never changed: the comparison proves nothing", name)
		}
	}
	// The resumed run's log continues the first one's: same history.
	a, _ := ReadMetrics(filepath.Join(fullDir, MetricsFile))
	b, _ := ReadMetrics(filepath.Join(dir, MetricsFile))
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("metrics: %d records uninterrupted, %d resumed", len(a), len(b))
	}
	for i := range a {
		if a[i].Step != b[i].Step || (a[i].Loss != nil) != (b[i].Loss != nil) || (a[i].Loss != nil && *a[i].Loss != *b[i].Loss) {
			t.Errorf("metrics record %d: %+v vs %+v", i, a[i], b[i])
		}
	}
}

func TestNaNLossStopsAndKeepsCheckpoint(t *testing.T) {
	ds := newBlobs(64, 4, 4, 3)
	dir := t.TempDir()
	a := tinyArgs(dir)
	a.SaveSteps = 2
	a.MaxSteps = 12
	// Poison an example that the 5th step (positions 32-39 of epoch 0) reads.
	order := epochOrder(a.Seed, 0, ds.Len())
	m := newTiny(16, 8, 4, 2)
	tr := &Trainer{Args: a, Model: m, TrainData: poisoned{ds, order[4*8+3]}}
	_, err := tr.Train()
	var le *LossError
	if !errors.As(err, &le) {
		t.Fatalf("got %v, want a *LossError", err)
	}
	if le.Step != 5 || !math.IsNaN(le.Value) || filepath.Base(le.Checkpoint) != "checkpoint-4" {
		t.Errorf("error %+v: want step 5, NaN, checkpoint-4", le)
	}
	if !strings.Contains(err.Error(), "NaN") || !strings.Contains(err.Error(), "checkpoint-4") {
		t.Errorf("message %q should name the NaN and the checkpoint", err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "checkpoint-2 checkpoint-4 metrics.jsonl" {
		t.Errorf("output dir holds %v, want checkpoint-2 checkpoint-4 metrics.jsonl", names)
	}
	// The weights were not touched by the failed step: they are still the
	// checkpoint's, and the checkpoint resumes.
	now := paramsOf(m)
	m2 := newTiny(16, 8, 4, 2)
	tr2 := &Trainer{Args: a, Model: m2, TrainData: ds}
	if err := tr2.Resume(le.Checkpoint); err != nil {
		t.Fatal(err)
	}
	for name, v := range paramsOf(m2) {
		for i := range v {
			if math.Float32bits(v[i]) != math.Float32bits(now[name][i]) {
				t.Fatalf("%s[%d]: checkpoint %v, model after the NaN %v", name, i, v[i], now[name][i])
			}
		}
	}
	if st := tr2.State(); st.GlobalStep != 4 {
		t.Errorf("resumed at step %d, want 4", st.GlobalStep)
	}
}

func TestCheckpointIsAtomic(t *testing.T) {
	ds := newBlobs(64, 4, 4, 3)
	dir := t.TempDir()
	a := tinyArgs(dir)
	a.MaxSteps = 2
	a.LoggingSteps = 0
	m := newTiny(16, 8, 4, 2)
	tr := &Trainer{Args: a, Model: m, TrainData: ds}
	tr.SaveModel = func(d string) error {
		return os.WriteFile(filepath.Join(d, "model.txt"), []byte("v1"), 0o644)
	}
	if _, err := tr.Train(); err != nil {
		t.Fatal(err)
	}
	ckpt, err := tr.SaveCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	// A save that fails half-way leaves the previous checkpoint of that
	// step as it was and no temporary directory behind.
	tr.SaveModel = func(d string) error {
		if err := os.WriteFile(filepath.Join(d, "model.txt"), []byte("v2"), 0o644); err != nil {
			return err
		}
		return errors.New("disk full")
	}
	if _, err := tr.SaveCheckpoint(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v, want the hook's error", err)
	}
	if b, err := os.ReadFile(filepath.Join(ckpt, "model.txt")); err != nil || string(b) != "v1" {
		t.Errorf("checkpoint after a failed save: %q, %v; want v1", b, err)
	}
	// A successful save of the same step replaces it whole.
	tr.SaveModel = func(d string) error {
		return os.WriteFile(filepath.Join(d, "model.txt"), []byte("v3"), 0o644)
	}
	if _, err := tr.SaveCheckpoint(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(ckpt, "model.txt")); string(b) != "v3" {
		t.Errorf("checkpoint after a second save: %q, want v3", b)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	for _, f := range []string{StateFile, ParamsFile, OptimizerFile} {
		if _, err := os.Stat(filepath.Join(ckpt, f)); err != nil {
			t.Errorf("checkpoint lacks %s: %v", f, err)
		}
	}
}

func TestResumeRefusesAnotherRun(t *testing.T) {
	ds := newBlobs(64, 4, 4, 3)
	dir := t.TempDir()
	a := tinyArgs(dir)
	a.MaxSteps, a.SaveSteps = 2, 2
	if _, err := (&Trainer{Args: a, Model: newTiny(16, 8, 4, 2), TrainData: ds}).Train(); err != nil {
		t.Fatal(err)
	}
	b := a
	b.PerDeviceTrainBatchSize = 4
	err := (&Trainer{Args: b, Model: newTiny(16, 8, 4, 2), TrainData: ds}).Resume(CheckpointDir(dir, 2))
	if err == nil || !strings.Contains(err.Error(), "batch 8") {
		t.Errorf("resume with another batch size: %v", err)
	}
	err = (&Trainer{Args: a, Model: newTiny(16, 9, 4, 2), TrainData: ds}).Resume(CheckpointDir(dir, 2))
	if err == nil || !strings.Contains(err.Error(), ParamsFile) {
		t.Errorf("resume into another model: %v", err)
	}
}

func TestProgressOutput(t *testing.T) {
	ds := newBlobs(64, 4, 4, 3)
	for _, quiet := range []bool{false, true} {
		var buf bytes.Buffer
		a := tinyArgs("")
		a.MaxSteps, a.LoggingSteps, a.Quiet = 4, 2, quiet
		if _, err := (&Trainer{Args: a, Model: newTiny(16, 8, 4, 2), TrainData: ds, Progress: &buf}).Train(); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if quiet {
			if out != "" {
				t.Errorf("quiet run printed %q", out)
			}
			continue
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "step 2/4  loss ") || !strings.Contains(lines[1], "ex/s") || strings.Contains(out, "\r") {
			t.Errorf("progress on a non-terminal: %q, want two plain lines", out)
		}
	}
}

func TestArgsValidate(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Args)
		want string
	}{
		{func(a *Args) { a.LearningRate = math.NaN() }, "learning_rate"},
		{func(a *Args) { a.PerDeviceTrainBatchSize = 0 }, "per_device_train_batch_size"},
		{func(a *Args) { a.GradientAccumulationSteps = 0 }, "gradient_accumulation_steps"},
		{func(a *Args) { a.NumTrainEpochs = 0 }, "num_train_epochs"},
		{func(a *Args) { a.WarmupRatio = 2 }, "warmup_ratio"},
		{func(a *Args) { a.LRSchedulerType = "cosine_with_restarts" }, "lr_scheduler_type"},
		{func(a *Args) { a.Optim = "adafactor" }, "optim"},
		{func(a *Args) { a.OutputDir = "" }, "output_dir"},
	} {
		a := DefaultArgs()
		a.OutputDir = "out"
		tc.edit(&a)
		if err := a.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %s", err, tc.want)
		}
	}
	a := DefaultArgs()
	a.OutputDir = "out"
	if err := a.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if got := a.TotalSteps(1000); got != 375 { // ceil(3 * 1000/8)
		t.Errorf("TotalSteps = %d, want 375", got)
	}
}
