package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/plan"
	"github.com/golora/golora/tensor"
)

func init() {
	benchTargets["train"] = benchTarget{
		summary: "training step time and memory of full, lora, lora-bf16, lora-ckpt, beside the planner's prediction",
		run:     runBenchTrain,
	}
}

// trainResult is one method's measurement, as --json prints it.
type trainResult struct {
	Method       string           `json:"method"`
	StepMS       float64          `json:"step_ms"`
	ImagesPerS   float64          `json:"images_per_s"`
	PeakRSSBytes int64            `json:"peak_rss_bytes"`
	Bytes        map[string]int64 `json:"bytes"`
	TotalBytes   int64            `json:"total_bytes"`
	RatioToFull  *struct {
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
	fs := newFlagSet("bench train", "--model DIR|--preset NAME --batch N --steps N [--threads N] [--methods full,lora,lora-bf16,lora-ckpt] [--world-size N --zero-stage S] [--json]\n       mpirun -np N golora bench train ... [--zero-stage S]  (built with -tags mpi)", stderr)
	pf := addPlanFlags(fs)
	batch := fs.Int("batch", 8, "batch size (per rank)")
	steps := fs.Int("steps", 5, "timed steps per method (after warm-up)")
	warmup := fs.Int("warmup", 1, "untimed steps per method first")
	methods := fs.String("methods", "full,lora,lora-bf16,lora-ckpt", "methods to run, in order")
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
	all, setups, err := pf.compareSetups(src)
	if err != nil {
		return err
	}
	var names []string
	var chosen []plan.Setup
	for _, n := range splitList(*methods) {
		i := slices.Index(all, n)
		if i < 0 {
			return usagef("bench train: unknown method %q (have %v)", n, all)
		}
		names, chosen = append(names, n), append(chosen, setups[i])
	}
	if len(names) == 0 {
		return usagef("bench train: --methods is empty")
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
	var results []trainResult
	for i, s := range chosen {
		var r trainResult
		if par.WorldSize > 1 {
			s.Parallel = par
			r, err = benchParallel(names[i], s, *batch, *warmup, *steps, comm)
		} else {
			r, err = benchMethod(names[i], s, *batch, *warmup, *steps)
		}
		if err != nil {
			return err
		}
		if len(results) > 0 && results[0].Method == "full" {
			f := results[0]
			r.RatioToFull = &struct {
				StepMS     float64 `json:"step_ms"`
				TotalBytes float64 `json:"total_bytes"`
			}{r.StepMS / f.StepMS, float64(r.TotalBytes) / float64(f.TotalBytes)}
		}
		results = append(results, r)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"results": results})
	}
	fmt.Fprintf(stdout, "bench train: %s, batch %d, %d steps after %d warm-up, %d kernel threads\n", what, *batch, *steps, *warmup, kernels.Threads())
	switch {
	case par.WorldSize > 1 && comm == nil:
		fmt.Fprintf(stdout, "%d data-parallel ranks in this process (goroutines sharing the cores), ZeRO stage %d: bytes are the sum over the ranks, images/s of all ranks; sent = rank 0's bytes per step (ring algorithms)\n", par.WorldSize, par.ZeroStage)
	case par.WorldSize > 1:
		fmt.Fprintf(stdout, "%d data-parallel ranks (mpirun), ZeRO stage %d: bytes and peak RSS are rank 0's, images/s of all ranks; sent = rank 0's bytes per step (ring algorithms)\n", par.WorldSize, par.ZeroStage)
	}
	fmt.Fprintln(stdout, "measured peak bytes per category (planned in brackets)")
	fmt.Fprintln(stdout)
	printTrainTable(stdout, results)
	return nil
}

func benchMethod(name string, s plan.Setup, batch, warmup, steps int) (trainResult, error) {
	r := trainResult{Method: name}
	rank := 0
	if s.Method == "lora" {
		rank = s.LoRA.R
	}
	// Build and check first: calibration allocates one layer's matrices.
	m, err := plan.Build(s, true, 1)
	if err != nil {
		return r, err
	}
	if err := checkTrainStep(m, batch, 0); err != nil {
		return r, err
	}
	speed := plan.Calibrate(m.Base.Dims(), batch, rank, s.BaseDType == tensor.BF16)
	memory.SetWeights(0, 0)
	settle()
	memory.ResetPeak()
	nn.AccountWeights(m.Root())
	run, err := plan.NewRunner(m, batch, 2)
	if err != nil {
		return r, err
	}
	for i := 0; i < warmup; i++ {
		if _, err := run.Step(); err != nil {
			return r, err
		}
	}
	times := make([]float64, steps)
	for i := range times {
		t := time.Now()
		if _, err := run.Step(); err != nil {
			return r, err
		}
		times[i] = float64(time.Since(t).Nanoseconds()) / 1e6
	}
	snap := memory.Take()
	r.PeakRSSBytes, _ = memory.PeakRSS()
	slices.Sort(times)
	r.StepMS = times[len(times)/2]
	r.ImagesPerS = float64(batch) / (r.StepMS / 1e3)
	r.Bytes, r.TotalBytes = snap.Peak.Map(), snap.PeakTotal
	e := m.Estimate(batch)
	r.Planned.Bytes, r.Planned.TotalBytes, r.Planned.StepMS = e.Bytes.Map(), e.TotalBytes(), speed.StepMS(e)
	runtime.KeepAlive(run)
	return r, nil
}

func printTrainTable(w io.Writer, rs []trainResult) {
	t := columns[trainResult]{w: w, label: 13, width: 24, items: rs}
	t.header(func(r trainResult) string { return r.Method })
	row := t.row
	for _, c := range []string{"weights", "gradients", "optimizer", "activations", "workspace", "data"} {
		row(c, func(r trainResult) string {
			return fmt.Sprintf("%s [%s]", humanBytes(r.Bytes[c]), humanBytes(r.Planned.Bytes[c]))
		})
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
	row("images/s", func(r trainResult) string { return fmt.Sprintf("%.1f", r.ImagesPerS) })
	row("x full time", func(r trainResult) string {
		if r.RatioToFull == nil {
			return "-"
		}
		return fmt.Sprintf("%.3f", r.RatioToFull.StepMS)
	})
	row("x full bytes", func(r trainResult) string {
		if r.RatioToFull == nil {
			return "-"
		}
		return fmt.Sprintf("%.3f", r.RatioToFull.TotalBytes)
	})
	if rs[0].Parallel != nil {
		printParallelRows(t)
	}
}
