package train

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/data"
	"github.com/golora/golora/nn"
)

// parallelArgs are the arguments of the data-parallel tests: 64 examples,
// world·batch·accum a step, two epochs, clipping active, evaluation and
// logging on.
func parallelArgs(dir string, batch, accum int) Args {
	a := tinyArgs(dir)
	a.PerDeviceTrainBatchSize, a.GradientAccumulationSteps = batch, accum
	a.MaxSteps, a.NumTrainEpochs = 0, 2
	a.MaxGradNorm = 0.5
	a.LoggingSteps, a.EvalSteps = 2, 4
	a.LearningRate = 0.02
	return a
}

// relDiff is max|a-b| / max|b| over all values of all tensors.
func relDiff(a, b map[string][]float32) float64 {
	var diff, scale float64
	for name, bv := range b {
		av := a[name]
		if len(av) != len(bv) {
			return math.Inf(1)
		}
		for i := range bv {
			diff = math.Max(diff, math.Abs(float64(av[i]-bv[i])))
			scale = math.Max(scale, math.Abs(float64(bv[i])))
		}
	}
	return diff / scale
}

// runWorld trains on world in-process ranks; mk makes each rank's model
// and Trainer (args, data); it returns rank 0's trainable values and
// result, after checking that every rank ends with the same values.
func runWorld(t *testing.T, world int, mk func(rank int) *Trainer, resume string) (map[string][]float32, *Result) {
	t.Helper()
	vals := make([]map[string][]float32, world)
	var res0 *Result
	err := collective.Run(world, func(c collective.Comm) error {
		tr := mk(c.Rank())
		tr.Comm = c
		if resume != "" {
			if err := tr.Resume(resume); err != nil {
				return err
			}
		}
		res, err := tr.Train()
		if err != nil {
			return err
		}
		if c.Rank() == 0 {
			res0 = res
		}
		vals[c.Rank()] = paramsOf(tr.Model)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for r := 1; r < world; r++ {
		if d := relDiff(vals[r], vals[0]); d != 0 {
			t.Fatalf("rank %d's values differ from rank 0's by %g", r, d)
		}
	}
	return vals[0], res0
}

// TestDataParallelMatchesOneProcess: 2 ranks with batch b end where one
// process with batch 2b does (within 1e-5; same evaluation, same logged
// losses), LoRA with dropout and full fine-tuning, at every ZeRO stage;
// the stages give the same bits with one micro-batch a step. Only rank 0
// writes files.
func TestDataParallelMatchesOneProcess(t *testing.T) {
	ds := newBlobs(64, 4, 4, 3)
	ev := newBlobsNoise(30, 4, 4, 3, 1)
	models := map[string]func() *tinyModel{
		"lora": func() *tinyModel { return loraTiny(t) },
		"full": func() *tinyModel { return newTiny(16, 12, 4, 5) },
	}
	for name, newModel := range models {
		for _, accum := range []int{1, 2} {
			dir1 := t.TempDir()
			one, res1 := runWorld(t, 1, func(int) *Trainer {
				return &Trainer{Args: parallelArgs(dir1, 8, accum), Model: newModel(), TrainData: ds, EvalData: ev}
			}, "")
			if moved := relDiff(one, paramsOf(newModel())); moved < 1e-2 {
				t.Fatalf("%s: values barely moved (%g): the comparison would prove nothing", name, moved)
			}
			var stage0 map[string][]float32
			for stage := 0; stage <= 2; stage++ {
				dir0, dir1r := t.TempDir(), t.TempDir()
				got, res := runWorld(t, 2, func(rank int) *Trainer {
					dir := dir0
					if rank == 1 {
						dir = dir1r // written to only if rank 1 wrote
					}
					a := parallelArgs(dir, 4, accum)
					a.ZeroStage = stage
					a.SaveSteps = 8
					return &Trainer{Args: a, Model: newModel(), TrainData: ds, EvalData: ev}
				}, "")
				what := fmt.Sprintf("%s accum %d stage %d", name, accum, stage)
				if d := relDiff(got, one); d > 1e-5 {
					t.Errorf("%s: 2 ranks x batch 4 differ from 1 x 8 by %g", what, d)
				} else {
					t.Logf("%s: 2 ranks vs one process: %.2g", what, d)
				}
				if stage == 0 {
					stage0 = got
				} else if d := relDiff(got, stage0); (accum == 1 && d != 0) || d > 1e-6 {
					t.Errorf("%s differs from stage 0 by %g", what, d)
				}
				if res.GlobalStep != res1.GlobalStep || len(res.History) != len(res1.History) {
					t.Fatalf("%s: %d steps, %d records; one process %d, %d", what, res.GlobalStep, len(res.History), res1.GlobalStep, len(res1.History))
				}
				for i, r := range res.History {
					r1 := res1.History[i]
					if r.Loss != nil && math.Abs(*r.Loss-*r1.Loss) > 1e-5**r1.Loss {
						t.Errorf("%s: step %d loss %v, one process %v", what, r.Step, *r.Loss, *r1.Loss)
					}
					if r.EvalAccuracy != nil && (*r.EvalAccuracy != *r1.EvalAccuracy || math.Abs(*r.EvalLoss-*r1.EvalLoss) > 1e-5**r1.EvalLoss) {
						t.Errorf("%s: step %d eval %v %v, one process %v %v", what, r.Step, *r.EvalLoss, *r.EvalAccuracy, *r1.EvalLoss, *r1.EvalAccuracy)
					}
				}
				if ents, _ := os.ReadDir(dir1r); len(ents) != 0 {
					t.Errorf("%s: rank 1 wrote %d files", what, len(ents))
				}
				want := "checkpoint-16 checkpoint-8 curves.png metrics.jsonl" // 16 steps
				if accum == 2 {
					want = "checkpoint-8 curves.png metrics.jsonl" // 8 steps
				}
				if names := dirNames(dir0); names != want {
					t.Errorf("%s: rank 0 wrote %s, want %s", what, names, want)
				}
				st, err := ReadState(filepath.Join(dir0, "checkpoint-8"))
				if err != nil || st.WorldSize != 2 || st.ZeroStage != stage || st.Position != 64 {
					t.Errorf("%s: checkpoint state %+v, %v", what, st, err)
				}
			}
		}
	}
}

func dirNames(dir string) string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// TestDataParallelResumeAtAnyWorld: a checkpoint written by 2 ranks at
// ZeRO-2 resumes at 2 ranks and stage 1 to the uninterrupted run's bits,
// and in one process with the same global batch to within 1e-5.
func TestDataParallelResumeAtAnyWorld(t *testing.T) {
	ds := newBlobs(64, 4, 4, 3)
	args := func(dir string, world, stage int) Args {
		a := parallelArgs(dir, 8/world, 1)
		a.ZeroStage, a.SaveSteps, a.EvalSteps = stage, 5, 0
		return a
	}
	dir := t.TempDir()
	full, _ := runWorld(t, 2, func(int) *Trainer {
		return &Trainer{Args: args(dir, 2, 2), Model: loraTiny(t), TrainData: ds}
	}, "")
	ckpt := CheckpointDir(dir, 5)
	for _, c := range []struct{ world, stage int }{{2, 2}, {2, 1}, {1, 0}, {4, 1}} {
		out := t.TempDir()
		got, res := runWorld(t, c.world, func(int) *Trainer {
			return &Trainer{Args: args(out, c.world, c.stage), Model: loraTiny(t), TrainData: ds}
		}, ckpt)
		d := relDiff(got, full)
		if (c.world == 2 && d != 0) || d > 1e-5 {
			t.Errorf("resumed at %d ranks, stage %d: differs from the uninterrupted run by %g", c.world, c.stage, d)
		}
		t.Logf("resumed at %d ranks, stage %d: %.2g", c.world, c.stage, d)
		if res.Steps != 11 {
			t.Errorf("resumed run made %d steps, want 11", res.Steps)
		}
	}
	// Another global batch is refused.
	err := collective.Run(2, func(c collective.Comm) error {
		tr := &Trainer{Args: args(t.TempDir(), 1, 0), Model: loraTiny(t), TrainData: ds, Comm: c}
		return tr.Resume(ckpt)
	})
	if err == nil || !strings.Contains(err.Error(), "saved with batch 4 x accumulation 1 on 2 ranks, this run has 8 x 1 on 2 ranks") {
		t.Errorf("got %v", err)
	}
}

// badLabel gives example bad an impossible label: the cross-entropy of the
// rank that reads it fails.
type badLabel struct {
	*blobs
	bad int
}

func (b badLabel) Fill(bt *data.Batch, idx []int) {
	b.blobs.Fill(bt, idx)
	for i, j := range idx {
		if j == b.bad {
			bt.Targets[i] = 99
		}
	}
}

// failingComm fails the n-th AllGather of one rank.
type failingComm struct {
	collective.Comm
	n int
}

func (f *failingComm) AllGather(buf []float32, counts []int) error {
	if f.n--; f.n == 0 {
		return errors.New("link down")
	}
	return f.Comm.AllGather(buf, counts)
}

// TestDataParallelFailure: a rank that fails (an error, a panic, a failed
// collective while the optimizer state is gathered for a checkpoint) stops
// every rank with its error, and leaves only complete checkpoints.
func TestDataParallelFailure(t *testing.T) {
	ds := newBlobs(64, 4, 4, 3)
	args := func(dir string) Args {
		a := parallelArgs(dir, 4, 1)
		a.ZeroStage, a.SaveSteps, a.EvalSteps = 1, 2, 0
		return a
	}
	order := epochOrder(42, 0, 64)
	cases := []struct {
		name  string
		mk    func(rank int, dir string, c collective.Comm) *Trainer
		error string
		files string
	}{
		{"rank 1 reads a bad label at step 5", func(rank int, dir string, c collective.Comm) *Trainer {
			return &Trainer{Args: args(dir), Model: loraTiny(t), TrainData: badLabel{ds, order[4*8+4+1]}, Comm: c}
		}, "rank 1 of 2: train: step 5: nn: cross-entropy: target 99", "checkpoint-2 checkpoint-4 metrics.jsonl"},
		{"rank 1 panics at step 4", func(rank int, dir string, c collective.Comm) *Trainer {
			calls := 1 << 30
			if rank == 1 {
				calls = 3*4 + 2
			}
			return &Trainer{Args: args(dir), Model: loraTiny(t), TrainData: killAfter{ds, &calls}, Comm: c}
		}, "rank 1 of 2: panic", "checkpoint-2 metrics.jsonl"},
		{"rank 1's link fails gathering checkpoint-4", func(rank int, dir string, c collective.Comm) *Trainer {
			if rank == 1 {
				// One all-gather of the values a step (one unit), two for
				// the moments of a checkpoint: the 8th is checkpoint-4's
				// second.
				c = &failingComm{c, 8}
			}
			return &Trainer{Args: args(dir), Model: loraTiny(t), TrainData: ds, Comm: c}
		}, "rank 1 of 2: train: gathering the optimizer state: link down", "checkpoint-2 metrics.jsonl"},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		errs := make([]error, 2)
		err := collective.Run(2, func(c collective.Comm) error {
			_, errs[c.Rank()] = tc.mk(c.Rank(), dir, c).Train()
			if p, ok := recover().(killed); ok {
				panic(p)
			}
			return errs[c.Rank()]
		})
		if err == nil || !strings.Contains(err.Error(), tc.error) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.error)
		}
		if !errors.Is(errs[0], collective.ErrAborted) {
			t.Errorf("%s: rank 0 ended with %v, want the abort", tc.name, errs[0])
		}
		if got := dirNames(dir); got != tc.files {
			t.Errorf("%s: output holds %s, want %s", tc.name, got, tc.files)
		}
	}
}

// TestDataParallelNaN: a NaN loss on one rank stops every rank at that
// step, before the weights change, with the last good checkpoint named.
func TestDataParallelNaN(t *testing.T) {
	ds := newBlobs(64, 4, 4, 3)
	dir := t.TempDir()
	order := epochOrder(42, 0, 64)
	errs := make([]error, 2)
	err := collective.Run(2, func(c collective.Comm) error {
		a := parallelArgs(dir, 4, 1)
		a.SaveSteps, a.EvalSteps = 2, 0
		// Rank 1's part of step 5 is positions 36-39.
		tr := &Trainer{Args: a, Model: newTiny(16, 8, 4, 2), TrainData: poisoned{ds, order[4*8+4+2]}, Comm: c}
		_, errs[c.Rank()] = tr.Train()
		return errs[c.Rank()]
	})
	if err == nil {
		t.Fatal("no error")
	}
	for r, e := range errs {
		var le *LossError
		if !errors.As(e, &le) || le.Step != 5 || !math.IsNaN(le.Value) || filepath.Base(le.Checkpoint) != "checkpoint-4" {
			t.Errorf("rank %d: %v, want a NaN LossError at step 5 naming checkpoint-4", r, e)
		}
	}
}

// TestDataParallelHooksAndLRScale: step hooks (AdaLoRA's kind) run on the
// reduced gradient, once per step, at ZeRO-0; a per-parameter learning
// rate (LoRA+) applies to the shares of the sharded stages; both give the
// one-process run. Hooks with a sharded gradient are refused.
func TestDataParallelHooksAndLRScale(t *testing.T) {
	ds := newBlobs(64, 4, 4, 3)
	scale := func(p *nn.Param) float64 {
		if strings.HasPrefix(p.Name, "fc2") {
			return 3
		}
		return 1
	}
	for _, c := range []struct {
		name  string
		hooks bool
		stage int
	}{{"hooks", true, 0}, {"lr scale", false, 2}} {
		mk := func(world int) func(int) *Trainer {
			return func(int) *Trainer {
				a := parallelArgs("", 8/world, 1)
				a.ZeroStage, a.EvalSteps, a.LoggingSteps = c.stage, 0, 1
				m := newTiny(16, 12, 4, 5)
				tr := &Trainer{Args: a, Model: m, TrainData: ds, LRScale: scale}
				if c.hooks {
					tr.Hooks = &testHooks{param: paramNamed(t, m, "fc2.bias"), extra: 0.25}
				}
				return tr
			}
		}
		one, r1 := runWorld(t, 1, mk(1), "")
		two, r2 := runWorld(t, 2, mk(2), "")
		plain, _ := runWorld(t, 1, func(int) *Trainer {
			a := parallelArgs("", 8, 1)
			a.EvalSteps = 0
			return &Trainer{Args: a, Model: newTiny(16, 12, 4, 5), TrainData: ds}
		}, "")
		if d := relDiff(one, plain); d < 1e-3 {
			t.Fatalf("%s: the run barely differs from one without it (%g): the test would prove nothing", c.name, d)
		}
		if d := relDiff(two, one); d > 1e-5 {
			t.Errorf("%s: 2 ranks differ from one process by %g", c.name, d)
		}
		for i, r := range r2.History {
			if r.Loss != nil && math.Abs(*r.Loss-*r1.History[i].Loss) > 1e-5 {
				t.Errorf("%s: step %d loss %v, one process %v", c.name, r.Step, *r.Loss, *r1.History[i].Loss)
			}
		}
	}
	err := collective.Run(2, func(c collective.Comm) error {
		a := parallelArgs("", 4, 1)
		a.ZeroStage = 1
		m := newTiny(16, 12, 4, 5)
		_, err := (&Trainer{Args: a, Model: m, TrainData: ds, Comm: c, Hooks: &testHooks{param: paramNamed(t, m, "fc2.bias")}}).Train()
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "step hooks (AdaLoRA) work on the whole gradient, which ZeRO stage 1 shards") {
		t.Errorf("got %v", err)
	}
}
