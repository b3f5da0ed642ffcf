package train

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/data"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
)

// GCHeadroom is how much garbage Train lets the heap gather above its
// live bytes before the collector runs (memory.GCHeadroom), from its first
// step to its return, when the previous setting comes back.
const GCHeadroom = 16 << 20

// Trainer trains Model on TrainData with Args. Set the fields, optionally
// call Resume, then Train.
type Trainer struct {
	Args      Args
	Model     Model
	TrainData Dataset
	EvalData  Dataset // optional: evaluated every EvalSteps and at the end

	// SaveModel, if set, writes the model in its user-facing format into a
	// checkpoint directory: a PEFT adapter, or config.json and
	// model.safetensors. The checkpoint's own files (trainer state,
	// trainable values, optimizer) are written besides.
	SaveModel func(dir string) error

	// Progress receives the progress bar or lines (usually os.Stderr);
	// nil or Args.Quiet means none. Only rank 0 writes it.
	Progress io.Writer

	// Hooks, if set, run around every optimizer step (AdaLoRA's
	// regulariser and rank allocation); see StepHooks. With several ranks
	// they run on the reduced gradient, once per step on every rank (so
	// what they add counts once), and need ZeRO stage 0.
	Hooks StepHooks
	// LRScale, if set, multiplies the learning rate of each trainable
	// parameter (LoRA+'s parameter groups: lora.LoraPlus.Scale).
	LRScale func(p *nn.Param) float64

	// Comm, if set, makes this Trainer one rank of data-parallel training
	// (nil: one process). Every rank runs the same Trainer on the same
	// TrainData; each takes its consecutive part of every global batch of
	// Size()·PerDeviceTrainBatchSize examples per micro-batch (the split of
	// accelerate's BatchSamplerShard, which the HF Trainer uses), so the
	// run is that of one process with the global batch: the loss of a step
	// is the mean over all the world's targets, dropout masks are those of
	// the global batch (nn.SetBatchShard), and gradients are summed over
	// the ranks (package zero, Args.ZeroStage). Evaluation is split over
	// the ranks too. Only rank 0 writes: metrics, chart, progress,
	// checkpoints (complete, with the optimizer state gathered, so they
	// resume at any world size with the same global batch).
	Comm collective.Comm

	params  []*nn.Param
	opt     *optimizer
	state   State
	resumed bool
	loss    nn.CrossEntropyLoss
}

// Result summarises a finished run.
type Result struct {
	GlobalStep int
	TrainLoss  float64       // mean training loss over the steps run in this process
	Eval       *EvalResult   // final evaluation, if EvalData is set
	Steps      int           // optimizer steps run in this process
	StepTime   time.Duration // mean wall time of one optimizer step (no eval, no saving)
	Elapsed    time.Duration // whole Train call
	History    []Record
}

// LossError is returned when a loss or gradient norm stops being finite.
type LossError struct {
	Step       int     // the optimizer step (1-based) that failed
	What       string  // "loss" or "gradient norm"
	Value      float64 // NaN or ±Inf
	Checkpoint string  // last good checkpoint on disk, "" if none
}

func (e *LossError) Error() string {
	last := "no checkpoint was saved"
	if e.Checkpoint != "" {
		last = "the last good checkpoint is " + e.Checkpoint
	}
	return fmt.Sprintf("train: %s is %v at step %d: training stopped before updating the weights (%s); lower the learning rate or check the data", e.What, e.Value, e.Step, last)
}

// comm is the Trainer's group (one process when Comm is nil).
func (t *Trainer) comm() collective.Comm {
	if t.Comm == nil {
		return collective.Local{}
	}
	return t.Comm
}

// lead reports whether this rank writes files and progress (rank 0).
func (t *Trainer) lead() bool { return t.comm().Rank() == 0 }

// Prepare validates the configuration and builds the optimizer (Train and
// Resume call it). With several ranks the trainable parameters' gradients
// then live in the data-parallel buffers: call it before measuring memory.
func (t *Trainer) Prepare() error { return t.setup() }

// setup validates the configuration and builds the optimizer once.
func (t *Trainer) setup() error {
	if t.opt != nil {
		return nil
	}
	if err := t.Args.Validate(); err != nil {
		return err
	}
	if t.Model == nil || t.TrainData == nil {
		return fmt.Errorf("train: Trainer needs a Model and TrainData")
	}
	t.params = nn.TrainableParams(t.Model)
	if len(t.params) == 0 {
		return fmt.Errorf("train: the model has no trainable parameters")
	}
	n, world := t.TrainData.Len(), t.comm().Size()
	if t.Args.StepsPerEpochOn(n, world) == 0 {
		return fmt.Errorf("train: %d training examples are fewer than one optimizer step needs (%d x %d x %d ranks)",
			n, t.Args.PerDeviceTrainBatchSize, t.Args.GradientAccumulationSteps, world)
	}
	if t.Hooks != nil && world > 1 && t.Args.ZeroStage > 0 {
		return fmt.Errorf("train: step hooks (AdaLoRA) work on the whole gradient, which ZeRO stage %d shards over the ranks: use zero_stage 0", t.Args.ZeroStage)
	}
	total := t.Args.TotalStepsOn(n, world)
	opt, err := newOptimizer(&t.Args, t.Model, t.comm(), total, t.LRScale)
	if err != nil {
		return err
	}
	t.opt = opt
	nn.SetBatchShard(t.Model, t.comm().Rank())
	t.state = State{
		MaxSteps:                  total,
		Seed:                      t.Args.Seed,
		TrainLen:                  n,
		LRSchedulerType:           t.Args.LRSchedulerType,
		LearningRate:              t.Args.LearningRate,
		WarmupSteps:               t.Args.Warmup(total),
		BatchSize:                 t.Args.PerDeviceTrainBatchSize,
		GradientAccumulationSteps: t.Args.GradientAccumulationSteps,
		WorldSize:                 world,
		ZeroStage:                 t.Args.ZeroStage,
		Threads:                   kernels.Threads(),
		Optim:                     t.Args.Optim,
	}
	return nil
}

// Resume loads the checkpoint in dir (trainable values, optimizer state,
// step, data position and log history), so that Train continues the saved
// run. The checkpoint must come from the same model, data and global batch
// (ranks x per-device batch, and accumulation), written at any world size
// and ZeRO stage; with several ranks each reads it (the directory must be
// visible to all). The bits of the result match an uninterrupted run when
// the world size and thread count match too.
func (t *Trainer) Resume(dir string) error {
	if err := t.setup(); err != nil {
		return err
	}
	st, err := ReadState(dir)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, StateFile)
	switch {
	case st.TrainLen != t.state.TrainLen:
		return fmt.Errorf("train: %s: saved with %d training examples, this run has %d", path, st.TrainLen, t.state.TrainLen)
	case st.BatchSize*st.World() != t.state.BatchSize*t.state.World() || st.GradientAccumulationSteps != t.state.GradientAccumulationSteps:
		return fmt.Errorf("train: %s: saved with batch %d x accumulation %d on %d ranks, this run has %d x %d on %d ranks (the global batch must match)", path,
			st.BatchSize, st.GradientAccumulationSteps, st.World(), t.state.BatchSize, t.state.GradientAccumulationSteps, t.state.World())
	case st.Optim != t.state.Optim:
		return fmt.Errorf("train: %s: saved with optim %q, this run uses %q", path, st.Optim, t.state.Optim)
	case st.Seed != t.state.Seed:
		return fmt.Errorf("train: %s: saved with seed %d, this run has %d (the data order would differ)", path, st.Seed, t.state.Seed)
	case st.GlobalStep > t.state.MaxSteps:
		return fmt.Errorf("train: %s: step %d is beyond this run's %d steps", path, st.GlobalStep, t.state.MaxSteps)
	}
	if err := loadParams(filepath.Join(dir, ParamsFile), t.params); err != nil {
		return err
	}
	if err := t.opt.load(filepath.Join(dir, OptimizerFile)); err != nil {
		return err
	}
	if err := t.loadHooks(dir); err != nil {
		return err
	}
	threads, world, stage, batch := t.state.Threads, t.state.WorldSize, t.state.ZeroStage, t.state.BatchSize
	total, warm := t.state.MaxSteps, t.state.WarmupSteps
	t.state = *st
	t.state.Threads, t.state.MaxSteps, t.state.WarmupSteps = threads, total, warm
	t.state.WorldSize, t.state.ZeroStage, t.state.BatchSize = world, stage, batch
	t.resumed = true
	if !t.Args.Quiet && t.Progress != nil && t.lead() {
		switch {
		case st.World() != t.state.World():
			fmt.Fprintf(t.Progress, "train: note: checkpoint was written by %d ranks, this run has %d: results will differ in the last bits\n", st.World(), t.state.World())
		case st.Threads != threads:
			fmt.Fprintf(t.Progress, "train: warning: checkpoint was written with %d threads, this run uses %d: results will differ in the last bits\n", st.Threads, threads)
		}
	}
	return nil
}

// Train runs the optimizer steps from the current state (step 0, or the
// resumed checkpoint) to the end, and returns the summary. A non-finite
// loss or gradient norm stops it with a *LossError before the weights are
// touched.
func (t *Trainer) Train() (*Result, error) {
	start := time.Now()
	if err := t.setup(); err != nil {
		return nil, err
	}
	a := &t.Args
	st := &t.state
	n := t.TrainData.Len()
	rank, world := t.comm().Rank(), t.comm().Size()
	B, GA := a.PerDeviceTrainBatchSize, a.GradientAccumulationSteps
	perStep := B * GA * world // examples of one optimizer step, over all ranks
	total := st.MaxSteps
	spe := a.StepsPerEpochOn(n, world)
	eng := t.opt.eng
	eng.Attach() // the backward reports its parts (ZeRO-2) for this run only
	defer eng.Close()
	// Every rank starts from rank 0's trainable values, as DDP does.
	if err := eng.SyncParams(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}

	var metrics *os.File
	if a.OutputDir != "" && t.lead() {
		if err := os.MkdirAll(a.OutputDir, 0o755); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		if err := writeMetrics(a.OutputDir, st.LogHistory); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(a.OutputDir, MetricsFile), os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		metrics = f
		defer metrics.Close()
	}
	logRecord := func(r Record) error {
		st.LogHistory = append(st.LogHistory, r)
		if metrics == nil {
			return nil
		}
		b, _ := json.Marshal(r)
		if _, err := metrics.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("train: writing %s: %w", metrics.Name(), err)
		}
		return nil
	}

	progress := t.Progress
	if !t.lead() {
		progress = nil
	}
	prog := newProgress(progress, a.Quiet, total, st.GlobalStep, perStep)
	defer prog.end()
	if t.resumed {
		prog.line("resuming from step %d of %d", st.GlobalStep, total)
	}

	nn.SetTraining(t.Model, true)
	var bt data.Batch
	order := epochOrder(st.Seed, st.DataEpoch, n)
	setEpoch := func() {
		if es, ok := t.TrainData.(EpochSetter); ok {
			es.SetEpoch(st.DataEpoch)
		}
	}
	setEpoch()
	lastCkpt := ""

	var (
		res      = &Result{}
		stepTime time.Duration
		runSum   float64
		lastEval = -1
	)
	for st.GlobalStep < total {
		t0 := time.Now()
		step := st.GlobalStep
		if st.Position+perStep > spe*perStep {
			st.DataEpoch++
			st.Position = 0
			order = epochOrder(st.Seed, st.DataEpoch, n)
			setEpoch()
		}
		eng.ZeroGrad()
		// The step's loss is the mean over all its scored targets (of
		// every rank: each knows the whole order), so each micro-batch's
		// mean counts by its share of them (1/(GA·world) each when every
		// example has one target), and the ranks' gradients add up.
		stepTargets := countTargets(t.TrainData, order[st.Position:st.Position+perStep])
		if stepTargets == 0 {
			return nil, fmt.Errorf("train: step %d: the batch has no scored targets (all labels are %d)", step+1, data.IgnoreIndex)
		}
		var stepLoss float64
		bad := false
		for g := range GA {
			// Micro-batch g of the step is examples [g·B·world, (g+1)·B·world)
			// of it; this rank takes the rank-th B of them.
			lo := st.Position + (g*world+rank)*B
			idx := order[lo : lo+B]
			t.TrainData.Fill(&bt, idx)
			share := float64(countTargets(t.TrainData, idx)) / float64(stepTargets)
			// Dropout masks are a function of the micro-step, so a resumed
			// run draws the same ones.
			nn.SetStep(t.Model, uint64(step*GA+g))
			logits := t.Model.ForwardBatch(&bt)
			l, err := t.loss.Forward(logits, bt.Targets)
			if err != nil {
				return nil, fmt.Errorf("train: step %d: %w", step+1, err)
			}
			if math.IsNaN(l) || math.IsInf(l, 0) {
				if world == 1 {
					return nil, &LossError{Step: step + 1, What: "loss", Value: l, Checkpoint: t.lastGood(lastCkpt)}
				}
				// The other ranks learn of it from the summed loss; until
				// then every rank runs the same collectives.
				bad = true
			}
			d := t.loss.Backward()
			if share != 1 {
				kernels.Scale(d.F32(), float32(share))
			}
			t.Model.Backward(d)
			if err := eng.EndBackward(); err != nil {
				return nil, fmt.Errorf("train: step %d: %w", step+1, err)
			}
			stepLoss += l * share
		}
		st.Position += perStep
		if world > 1 {
			sum := []float64{stepLoss, 0}
			if bad {
				sum[1] = 1
			}
			if err := eng.SumScalars(sum); err != nil {
				return nil, fmt.Errorf("train: step %d: %w", step+1, err)
			}
			stepLoss = sum[0]
			if sum[1] > 0 || math.IsNaN(stepLoss) || math.IsInf(stepLoss, 0) {
				return nil, &LossError{Step: step + 1, What: "loss", Value: stepLoss, Checkpoint: t.lastGood(lastCkpt)}
			}
			if err := eng.Reduce(); err != nil {
				return nil, fmt.Errorf("train: step %d: %w", step+1, err)
			}
		}
		// The hooks see the whole reduced gradient (with several ranks,
		// ZeRO-0: every rank adds the same terms to its replica, once).
		if t.Hooks != nil {
			extra, err := t.Hooks.AfterBackward(step)
			if err != nil {
				return nil, fmt.Errorf("train: step %d: %w", step+1, err)
			}
			if math.IsNaN(extra) || math.IsInf(extra, 0) {
				return nil, &LossError{Step: step + 1, What: "loss", Value: extra, Checkpoint: t.lastGood(lastCkpt)}
			}
			stepLoss += extra
		}
		norm, err := t.opt.clip(a.MaxGradNorm)
		if err != nil {
			return nil, err
		}
		if math.IsNaN(norm) || math.IsInf(norm, 0) {
			return nil, &LossError{Step: step + 1, What: "gradient norm", Value: norm, Checkpoint: t.lastGood(lastCkpt)}
		}
		lr := t.opt.lr(step)
		if err := t.opt.step(lr); err != nil {
			return nil, err
		}
		if t.Hooks != nil {
			if err := t.Hooks.AfterStep(step); err != nil {
				return nil, fmt.Errorf("train: step %d: %w", step+1, err)
			}
		}
		st.GlobalStep++
		st.Epoch = float64(st.DataEpoch) + float64(st.Position)/float64(spe*perStep)
		dt := time.Since(t0)
		stepTime += dt
		res.Steps++
		if res.Steps == 1 {
			// Every step buffer exists now: let the small garbage of the
			// steps (headers, closures) grow the heap by GCHeadroom, not
			// by as much again as the buffers (Go's default).
			defer debug.SetGCPercent(memory.GCHeadroom(GCHeadroom))
		}
		st.LogLossSum += stepLoss
		st.LogLossCount++
		runSum += stepLoss

		shown := stepLoss // the bar shows this step's loss, log lines the interval's mean
		logged := a.LoggingSteps > 0 && st.GlobalStep%a.LoggingSteps == 0
		if logged {
			shown = st.LogLossSum / float64(st.LogLossCount)
			ips := float64(res.Steps*perStep) / stepTime.Seconds()
			err := logRecord(Record{Step: st.GlobalStep, Epoch: round4(st.Epoch), Loss: ptr(shown),
				LearningRate: ptr(lr), GradNorm: ptr(norm), ExamplesPerSec: ptr(math.Round(ips))})
			if err != nil {
				return nil, err
			}
			st.LogLossSum, st.LogLossCount = 0, 0
		}
		prog.step(st.GlobalStep, shown, logged)

		if t.EvalData != nil && a.EvalSteps > 0 && st.GlobalStep%a.EvalSteps == 0 {
			ev, err := t.eval(logRecord)
			if err != nil {
				return nil, err
			}
			prog.line("step %d: eval loss %.4f, accuracy %.2f%%", st.GlobalStep, ev.Loss, 100*ev.Accuracy)
			lastEval = st.GlobalStep
			res.Eval = &ev
		}
		if a.SaveSteps > 0 && st.GlobalStep%a.SaveSteps == 0 {
			dir, err := t.SaveCheckpoint()
			if err != nil {
				return nil, err
			}
			lastCkpt = dir
		}
	}
	if t.EvalData != nil && lastEval != st.GlobalStep {
		ev, err := t.eval(logRecord)
		if err != nil {
			return nil, err
		}
		prog.line("step %d: eval loss %.4f, accuracy %.2f%%", st.GlobalStep, ev.Loss, 100*ev.Accuracy)
		res.Eval = &ev
	}
	prog.end()
	if a.OutputDir != "" && len(st.LogHistory) > 0 && t.lead() {
		if err := WriteChart(chartPath(a.OutputDir), st.LogHistory); err != nil {
			return nil, err
		}
	}
	res.GlobalStep = st.GlobalStep
	if res.Steps > 0 {
		res.TrainLoss = runSum / float64(res.Steps)
		res.StepTime = stepTime / time.Duration(res.Steps)
	}
	res.History = st.LogHistory
	res.Elapsed = time.Since(start)
	return res, nil
}

// lastGood names the last checkpoint on disk for error messages.
func (t *Trainer) lastGood(saved string) string {
	if saved != "" {
		return saved
	}
	if t.Args.OutputDir == "" {
		return ""
	}
	d, _ := LatestCheckpoint(t.Args.OutputDir)
	return d
}

// eval evaluates on EvalData (split over the ranks) and logs the result.
func (t *Trainer) eval(log func(Record) error) (EvalResult, error) {
	ev, err := evaluateOn(t.comm(), t.Model, t.EvalData, t.Args.PerDeviceEvalBatchSize)
	if err != nil {
		return ev, err
	}
	st := &t.state
	err = log(Record{Step: st.GlobalStep, Epoch: round4(st.Epoch), EvalLoss: ptr(ev.Loss), EvalAccuracy: ptr(ev.Accuracy)})
	return ev, err
}

// SaveCheckpoint writes output_dir/checkpoint-<step>/ atomically: the
// model's own format (SaveModel), the exact trainable values, the
// optimizer state and trainer_state.json. It returns the directory. With
// several ranks it is collective: every rank calls it, the optimizer state
// is gathered, and rank 0 alone writes, only once the gathering has
// succeeded (so a failing rank never leaves a partial checkpoint).
func (t *Trainer) SaveCheckpoint() (string, error) {
	if err := t.setup(); err != nil {
		return "", err
	}
	if t.Args.OutputDir == "" {
		return "", fmt.Errorf("train: cannot save a checkpoint without output_dir")
	}
	dst := CheckpointDir(t.Args.OutputDir, t.state.GlobalStep)
	sd, err := t.opt.gather()
	if err != nil {
		return "", err
	}
	if !t.lead() {
		return dst, nil
	}
	err = writeCheckpointDir(dst, func(tmp string) error {
		if t.SaveModel != nil {
			if err := t.SaveModel(tmp); err != nil {
				return fmt.Errorf("train: saving the model into %s: %w", dst, err)
			}
		}
		if err := saveParams(filepath.Join(tmp, ParamsFile), t.params); err != nil {
			return fmt.Errorf("train: %w", err)
		}
		st := t.state
		if err := saveOptimizer(filepath.Join(tmp, OptimizerFile), sd); err != nil {
			return err
		}
		if err := t.saveHooks(tmp); err != nil {
			return err
		}
		return writeState(tmp, &st)
	})
	if err != nil {
		return "", err
	}
	return dst, nil
}

// State returns a copy of the trainer's current state.
func (t *Trainer) State() State { return t.state }

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }
