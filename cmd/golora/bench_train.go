package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/plan"
	"github.com/golora/golora/train"
)

func init() {
	benchTargets["train"] = benchTarget{
		summary: "training step time and memory of full, lora (over an f32, bf16, fp16, int8 or NF4 base), lora-ckpt, adalora, beside the planner's prediction",
		run:     runBenchTrain,
	}
}

// trainResult is one method's measurement, as --json prints it.
type trainResult struct {
	Method       string  `json:"method"`
	StepMS       float64 `json:"step_ms"`
	StepCPUMS    float64 `json:"step_cpu_ms"`
	ExamplesPerS float64 `json:"examples_per_s"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	// TokensPerExample is a sequence model's length run (0: none).
	TokensPerExample int              `json:"tokens_per_example,omitempty"`
	Bytes            map[string]int64 `json:"bytes"`
	TotalBytes       int64            `json:"total_bytes"`
	// Ratio is to the first method of the run; RatioToFull repeats it when
	// that is full fine-tuning.
	Ratio       *ratio `json:"ratio"`
	RatioToFull *struct {
		StepMS     float64 `json:"step_ms"`
		TotalBytes float64 `json:"total_bytes"`
	} `json:"ratio_to_full,omitempty"`
	Planned struct {
		Bytes      map[string]int64 `json:"bytes"`
		TotalBytes int64            `json:"total_bytes"`
		StepMS     float64          `json:"step_ms"`
	} `json:"planned"`
	Parallel *parallelResult `json:"data_parallel,omitempty"`
}

func runBenchTrain(args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("bench train", "--model DIR|--preset NAME --batch N --steps N [--max-seq-length N | --block-size N] [--threads N] [--methods "+defaultCompare+"] [--sequential] [--world-size N --zero-stage S] [--json]\n       mpirun -np N golora bench train ... [--zero-stage S]  (built with -tags mpi)", stderr)
	pf := addPlanFlags(fs)
	batch := fs.Int("batch", 8, "batch size (per rank)")
	steps := fs.Int("steps", 5, "timed steps per method (after warm-up)")
	warmup := fs.Int("warmup", 1, "untimed steps per method first")
	methods := fs.String("methods", defaultCompare, "methods to run, in order: "+strings.Join(compareMethods, ", "))
	sequential := fs.Bool("sequential", false, "time each method right after measuring its memory, one model in memory at a time, instead of interleaving the methods' steps")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("bench train: unexpected argument %q", fs.Arg(0))
	case *batch <= 0 || *steps <= 0 || *warmup < 0:
		return usagef("bench train: --batch and --steps must be positive, --warmup >= 0")
	case *pf.threads < 0:
		return usagef("bench train: --threads must be >= 0")
	}
	par, err := pf.parallel()
	if err != nil {
		return err
	}
	comm, err := joinJob()
	if err != nil {
		return err
	}
	defer leaveJob(comm, &err, stderr)
	if comm.Size() > 1 {
		if par.WorldSize > 1 && par.WorldSize != comm.Size() {
			return usagef("bench train: --world-size %d, but mpirun started %d ranks", par.WorldSize, comm.Size())
		}
		par.WorldSize = comm.Size()
		stdout = quietRank(stdout, comm)
	} else {
		comm = nil // --world-size N: an in-process group
	}
	src, what, err := pf.source()
	if err != nil {
		return err
	}
	pf.runSteps = *warmup + 1 + *steps // AdaLoRA's total_step unless --total-step: the most steps a model runs
	names, setups, err := pf.compareSetups(src, *methods)
	if err != nil {
		return usagef("bench train: %v", err)
	}
	threads := *pf.threads
	if threads == 0 && par.WorldSize > 1 {
		// The ranks share the cores: those mpirun started here, or the
		// in-process ranks.
		local := collective.LocalSize()
		if comm == nil {
			local = par.WorldSize
		}
		threads = max(1, runtime.GOMAXPROCS(0)/local)
	}
	if threads > 0 {
		defer kernels.SetThreads(kernels.SetThreads(threads))
	}
	// Memory: one method at a time, so that each peak is its own. Data
	// parallel runs measure and time each method in turn.
	results := make([]trainResult, len(names))
	times, cpu := make([][]float64, len(names)), make([][]float64, len(names))
	for i, s := range setups {
		if par.WorldSize > 1 {
			s.Parallel = par
			results[i], err = benchParallel(names[i], s, *batch, *warmup, *steps, comm)
		} else {
			results[i], times[i], cpu[i], err = benchMethod(names[i], s, *batch, *warmup, *steps, *sequential)
		}
		if err != nil {
			return err
		}
		results[i].TokensPerExample = s.SeqLen
	}
	// Time: the methods' steps interleaved (A B C A B C ...), so that the
	// load of a shared machine weighs on all alike and the ratios hold.
	if !*sequential && par.WorldSize <= 1 {
		var need int64
		for _, r := range results {
			need = sizecheck.Add(need, r.Planned.TotalBytes)
		}
		if err := sizecheck.Memory(fmt.Sprintf("timing %d methods interleaved (all their models at once; --sequential times one at a time)", len(results)), need); err != nil {
			return err
		}
		if times, cpu, err = benchInterleaved(setups, *batch, *warmup, *steps); err != nil {
			return err
		}
	}
	for i := range results {
		if times[i] != nil { // else set by benchParallel
			ts := slices.Clone(times[i])
			slices.Sort(ts)
			results[i].StepMS = ts[len(ts)/2]
			cs := slices.Clone(cpu[i])
			slices.Sort(cs)
			results[i].StepCPUMS = cs[len(cs)/2]
			results[i].ExamplesPerS = float64(*batch) / (results[i].StepMS / 1e3)
		}
		f := results[0]
		results[i].Ratio = &ratio{To: f.Method, StepMS: results[i].StepMS / f.StepMS, TotalBytes: float64(results[i].TotalBytes) / float64(f.TotalBytes)}
		if !*sequential && times[i] != nil && times[0] != nil {
			results[i].Ratio.StepMS = pairedRatio(times[i], times[0])
		}
		if f.Method == "full" {
			results[i].RatioToFull = &struct {
				StepMS     float64 `json:"step_ms"`
				TotalBytes float64 `json:"total_bytes"`
			}{results[i].Ratio.StepMS, results[i].Ratio.TotalBytes}
		}
	}
	if len(results) > 0 && results[0].Method == "full" {
		results[0].RatioToFull = nil
	}
	if comm != nil && comm.Rank() != 0 {
		// Only rank 0 holds the measurements (the others' bytes are zero,
		// their ratios undefined) and reports them.
		return nil
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"results": results})
	}
	how := "interleaved"
	if *sequential || par.WorldSize > 1 {
		how = "one method after the other"
	}
	fmt.Fprintf(stdout, "bench train: %s, batch %d%s, %d steps after %d warm-up (%s), %d kernel threads\n", what, *batch, tokensPerExample(setups[0].SeqLen), *steps, *warmup, how, kernels.Threads())
	switch {
	case par.WorldSize > 1 && comm == nil:
		fmt.Fprintf(stdout, "%d data-parallel ranks in this process (goroutines sharing the cores), ZeRO stage %d: bytes are the sum over the ranks, examples/s of all ranks; sent = rank 0's bytes per step (ring algorithms)\n", par.WorldSize, par.ZeroStage)
	case par.WorldSize > 1:
		fmt.Fprintf(stdout, "%d data-parallel ranks (mpirun), ZeRO stage %d: bytes and peak RSS are rank 0's, examples/s of all ranks; sent = rank 0's bytes per step (ring algorithms)\n", par.WorldSize, par.ZeroStage)
	}
	fmt.Fprintln(stdout, "measured peak bytes per category (planned in brackets)")
	fmt.Fprintln(stdout)
	printTrainTable(stdout, results)
	return nil
}

// ratio is a method's time and bytes over the first method's of the run.
// Interleaved, the time ratio is the median over the rounds of the ratio
// of the two methods' steps in the same round, so that load that comes
// and goes over the run (other jobs on shared cores) cancels; otherwise
// the ratio of the median steps.
type ratio struct {
	To         string  `json:"to"`
	StepMS     float64 `json:"step_ms"`
	TotalBytes float64 `json:"total_bytes"`
}

// benchMethod builds one method's model and measures the memory of its
// warm-up and first step against the planner's prediction; timed, it also
// times steps more steps, right after.
func benchMethod(name string, s plan.Setup, batch, warmup, steps int, timed bool) (r trainResult, times, cpu []float64, err error) {
	r = trainResult{Method: name}
	// Build and check first: calibration allocates each op's buffers.
	m, err := plan.Build(s, true, 1)
	if err != nil {
		return r, nil, nil, err
	}
	if err := checkTrainStep(m, batch, 0); err != nil {
		return r, nil, nil, err
	}
	speed := plan.Calibrate(m.Estimate(batch))
	memory.SetWeights(memory.Bytes{})
	settle()
	memory.ResetPeak()
	nn.AccountWeights(m.Root())
	run, err := plan.NewRunner(m, batch, 2)
	if err != nil {
		return r, nil, nil, err
	}
	for i := 0; i < warmup+1; i++ {
		if _, err := run.Step(); err != nil {
			return r, nil, nil, err
		}
	}
	// As the trainer does once its buffers exist.
	defer debug.SetGCPercent(memory.GCHeadroom(train.GCHeadroom))
	if timed {
		if times, cpu, err = timeSteps(run, steps); err != nil {
			return r, nil, nil, err
		}
	}
	snap := memory.Take()
	r.PeakRSSBytes, _ = memory.PeakRSS()
	r.Bytes, r.TotalBytes = snap.Peak.Map(), snap.PeakTotal
	e := m.Estimate(batch)
	r.Planned.Bytes, r.Planned.TotalBytes, r.Planned.StepMS = e.Bytes.Map(), e.TotalBytes(), speed.StepMS(e)
	runtime.KeepAlive(run)
	return r, times, cpu, nil
}

// benchInterleaved builds every setup, warms each up, then times steps
// rounds of one step of each in turn, each round starting one method
// later; it returns the wall and CPU times per setup.
func benchInterleaved(setups []plan.Setup, batch, warmup, steps int) (times, cpu [][]float64, err error) {
	runs := make([]*plan.Runner, len(setups))
	for i, s := range setups {
		m, err := plan.Build(s, true, 1)
		if err != nil {
			return nil, nil, err
		}
		if runs[i], err = plan.NewRunner(m, batch, 2); err != nil {
			return nil, nil, err
		}
		for k := 0; k < warmup; k++ {
			if _, err := runs[i].Step(); err != nil {
				return nil, nil, err
			}
		}
	}
	defer debug.SetGCPercent(memory.GCHeadroom(train.GCHeadroom))
	times, cpu = make([][]float64, len(setups)), make([][]float64, len(setups))
	for k := 0; k < steps; k++ {
		// Each round starts with the next method, so that no method
		// always runs first (or right after the same other one).
		for j := range runs {
			i := (k + j) % len(runs)
			t, c, err := timeSteps(runs[i], 1)
			if err != nil {
				return nil, nil, err
			}
			times[i], cpu[i] = append(times[i], t...), append(cpu[i], c...)
		}
	}
	return times, cpu, nil
}

// pairedRatio is the median of a[k]/b[k].
func pairedRatio(a, b []float64) float64 {
	r := make([]float64, min(len(a), len(b)))
	for k := range r {
		r[k] = a[k] / b[k]
	}
	slices.Sort(r)
	return r[len(r)/2]
}

// timeSteps runs n steps and returns their wall and CPU times in
// milliseconds.
func timeSteps(run *plan.Runner, n int) (times, cpu []float64, err error) {
	times, cpu = make([]float64, n), make([]float64, n)
	for i := range times {
		t, c := time.Now(), cpuTime()
		if _, err := run.Step(); err != nil {
			return nil, nil, err
		}
		times[i] = float64(time.Since(t).Nanoseconds()) / 1e6
		cpu[i] = float64((cpuTime() - c).Nanoseconds()) / 1e6
	}
	return times, cpu, nil
}

func printTrainTable(w io.Writer, rs []trainResult) {
	t := columns[trainResult]{w: w, label: 13, width: 24, items: rs}
	t.header(func(r trainResult) string { return r.Method })
	row := t.row
	cat := func(c string) {
		row(c, func(r trainResult) string {
			return fmt.Sprintf("%s [%s]", humanBytes(r.Bytes[c]), humanBytes(r.Planned.Bytes[c]))
		})
	}
	cat("weights")
	for _, dt := range dtypesIn(rs, func(r trainResult) map[string]int64 { return weightsBy(r.Planned.Bytes) }) {
		c := "weights_" + strings.ToLower(dt)
		row("  "+strings.ToLower(dt), func(r trainResult) string {
			return fmt.Sprintf("%s [%s]", humanBytes(r.Bytes[c]), humanBytes(r.Planned.Bytes[c]))
		})
	}
	for _, c := range []string{"gradients", "optimizer", "activations", "workspace", "data"} {
		cat(c)
	}
	row("total", func(r trainResult) string {
		return fmt.Sprintf("%s [%s]", humanBytes(r.TotalBytes), humanBytes(r.Planned.TotalBytes))
	})
	row("peak RSS", func(r trainResult) string { return humanBytes(r.PeakRSSBytes) })
	row("step ms", func(r trainResult) string {
		if r.Parallel != nil { // the planner's time is one process's compute
			return fmt.Sprintf("%.1f", r.StepMS)
		}
		return fmt.Sprintf("%.1f [%.1f]", r.StepMS, r.Planned.StepMS)
	})
	row("planned/meas", func(r trainResult) string {
		if r.Parallel != nil {
			return "-"
		}
		return fmt.Sprintf("%.2f", r.Planned.StepMS/r.StepMS)
	})
	row("step CPU ms", func(r trainResult) string { return fmt.Sprintf("%.1f", r.StepCPUMS) })
	row("examples/s", func(r trainResult) string { return fmt.Sprintf("%.1f", r.ExamplesPerS) })
	if len(rs) == 0 {
		return
	}
	first := rs[0].Method
	row("x "+first+" time", func(r trainResult) string { return fmt.Sprintf("%.3f", r.Ratio.StepMS) })
	row("x "+first+" bytes", func(r trainResult) string { return fmt.Sprintf("%.3f", r.Ratio.TotalBytes) })
	if rs[0].Parallel != nil {
		printParallelRows(t)
	}
}

// weightsBy turns a category map's weights_<dtype> entries into a map by
// dtype name ("NF4").
func weightsBy(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if dt, ok := strings.CutPrefix(k, "weights_"); ok {
			out[strings.ToUpper(dt)] = v
		}
	}
	return out
}
