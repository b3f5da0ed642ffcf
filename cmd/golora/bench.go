package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golora/golora/internal/cpuclock"
	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/kernels"
)

func init() {
	commands["bench"] = command{summary: "measure kernel speed on this machine (bench gemm)", run: runBench}
}

// benchTarget is one thing "golora bench" measures; each parses its own flags.
type benchTarget struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

// benchTargets is the dispatch table of "golora bench <target>".
var benchTargets = map[string]benchTarget{
	"gemm": {summary: "GEMM GFLOP/s on the shapes of a ViT LoRA step, kernel paths side by side, against the FMA peak", run: runBenchGemm},
}

func runBench(args []string, stdout, stderr io.Writer) error {
	names := make([]string, 0, len(benchTargets))
	for n := range benchTargets {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprintln(stdout, "usage: golora bench <target> [flags]\n\ntargets:")
		for _, n := range names {
			fmt.Fprintf(stdout, "  %-8s %s\n", n, benchTargets[n].summary)
		}
		return nil
	}
	if len(args) == 0 {
		return usagef("bench: missing target (one of: %s)", strings.Join(names, ", "))
	}
	t, ok := benchTargets[args[0]]
	if !ok {
		return usagef("bench: unknown target %q (one of: %s)", args[0], strings.Join(names, ", "))
	}
	return t.run(args[1:], stdout, stderr)
}

// gemmShape is C = op(A)·op(B) with op(A) m×k and op(B) k×n.
type gemmShape struct{ m, k, n int }

// defaultGemmShapes are the products of a ViT-Tiny training step at batch 8
// (1576 = 8·197 tokens): projections, MLP, LoRA rank-16 down/up, and two
// square references.
var defaultGemmShapes = []gemmShape{
	{1576, 192, 192}, {1576, 192, 768}, {1576, 768, 192}, {512, 1024, 1024},
	{2048, 2048, 2048}, {1576, 192, 16}, {1576, 16, 192},
}

// gemmResult is one product on one kernel path (a line of the report's
// JSON form; the table puts the paths side by side).
type gemmResult struct {
	M              int     `json:"m"`
	K              int     `json:"k"`
	N              int     `json:"n"`
	Trans          string  `json:"trans"`
	Threads        int     `json:"threads"`
	Path           string  `json:"path"`
	GFLOPS         float64 `json:"gflops"`
	FractionOfPeak float64 `json:"fraction_of_peak"`
}

type gemmReport struct {
	// PeakGFLOPS is the one-core FMA peak of the first path, Peaks that of
	// each path (the zmm loop for zmm, ymm for ymm, scalar Go for go).
	PeakGFLOPS float64            `json:"peak_gflops"`
	Paths      []string           `json:"paths"`
	Peaks      map[string]float64 `json:"peaks"`
	Results    []gemmResult       `json:"results"`
}

func runBenchGemm(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench gemm", "[--threads 1,2] [--paths zmm,ymm] [--reps N] [--best] [--cpu-time] [--json] [--shapes MxKxN,...] [--trans NN,NT,TN]", stderr)
	threadsFlag := fs.String("threads", "1", "comma-separated thread counts to run each product with")
	pathsFlag := fs.String("paths", strings.Join(defaultBenchPaths(), ","), "comma-separated kernel paths to compare, interleaved in one run (zmm, ymm, go; default: every assembly path this CPU has)")
	reps := fs.Int("reps", 11, "timed repetitions per product and path; the median (or --best) is reported")
	best := fs.Bool("best", false, "report the fastest repetition instead of the median: the least disturbed one on a busy machine")
	cpuTime := fs.Bool("cpu-time", false, "time by the thread's CPU time instead of the wall clock, so that other processes on the core do not count (Linux, --threads 1 only)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	shapesFlag := fs.String("shapes", "", "comma-separated MxKxN products (default: the ViT LoRA step set)")
	transFlag := fs.String("trans", "NN,NT,TN", "comma-separated transpose variants of (A, B): NN, NT, TN, TT")
	peakTime := fs.Duration("peak-time", 300*time.Millisecond, "how long to measure each path's FMA peak")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bench gemm: unexpected argument %q", fs.Arg(0))
	}
	if *reps < 1 {
		return usagef("bench gemm: --reps must be >= 1, got %d", *reps)
	}
	if *peakTime < 0 {
		return usagef("bench gemm: --peak-time must be >= 0, got %v", *peakTime)
	}
	threads, err := parseThreads(*threadsFlag)
	if err != nil {
		return err
	}
	paths, err := parsePaths(*pathsFlag)
	if err != nil {
		return err
	}
	if *cpuTime {
		if _, ok := cpuclock.Thread(); !ok {
			return usagef("bench gemm: --cpu-time needs a thread CPU clock (Linux)")
		}
		if len(threads) != 1 || threads[0] != 1 {
			return usagef("bench gemm: --cpu-time measures one thread; use it with --threads 1")
		}
		// The product runs on this goroutine (one thread): keep it on one
		// OS thread so that its CPU clock is the one read.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	shapes := defaultGemmShapes
	if *shapesFlag != "" {
		if shapes, err = parseShapes(*shapesFlag); err != nil {
			return err
		}
	}
	trans := splitList(*transFlag)
	if len(trans) == 0 {
		return usagef("bench gemm: --trans is empty")
	}
	for _, t := range trans {
		if !slices.Contains([]string{"NN", "NT", "TN", "TT"}, t) {
			return usagef("bench gemm: bad --trans value %q (want NN, NT, TN or TT)", t)
		}
	}

	prevPath, _ := kernels.SetKernelPath(paths[0])
	defer kernels.SetKernelPath(prevPath)
	rep := gemmReport{Paths: paths, Peaks: map[string]float64{}}
	for _, p := range paths {
		kernels.SetKernelPath(p)
		rep.Peaks[p] = kernels.MeasurePeakGFLOPS(*peakTime)
	}
	rep.PeakGFLOPS = rep.Peaks[paths[0]]
	defer kernels.SetThreads(kernels.SetThreads(1))
	for _, s := range shapes {
		for _, tr := range trans {
			for _, th := range threads {
				kernels.SetThreads(th)
				rates := timeGemm(s, tr, *reps, paths, *best, *cpuTime)
				for i, p := range paths {
					rep.Results = append(rep.Results, gemmResult{
						M: s.m, K: s.k, N: s.n, Trans: tr, Threads: th, Path: p,
						GFLOPS: rates[i], FractionOfPeak: rates[i] / rep.Peaks[p],
					})
				}
			}
		}
	}
	if *asJSON {
		b, err := json.Marshal(rep)
		if err != nil {
			return fmt.Errorf("bench gemm: %w", err)
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	printGemmReport(stdout, rep)
	return nil
}

// printGemmReport prints one line per product with the paths side by side
// and, for two or more paths, the first path's speed over the second's.
func printGemmReport(w io.Writer, rep gemmReport) {
	var peaks []string
	for _, p := range rep.Paths {
		peaks = append(peaks, fmt.Sprintf("%s %.1f", p, rep.Peaks[p]))
	}
	fmt.Fprintf(w, "FMA peak, one core: %s GFLOP/s (GOMAXPROCS %d)\n", strings.Join(peaks, ", "), runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "%6s %6s %6s %5s %7s", "M", "K", "N", "trans", "threads")
	for _, p := range rep.Paths {
		fmt.Fprintf(w, " %13s %7s", p+" GFLOP/s", "of peak")
	}
	if len(rep.Paths) > 1 {
		fmt.Fprintf(w, " %9s", rep.Paths[0]+"/"+rep.Paths[1])
	}
	fmt.Fprintln(w)
	np := len(rep.Paths)
	for i := 0; i < len(rep.Results); i += np {
		r := rep.Results[i]
		fmt.Fprintf(w, "%6d %6d %6d %5s %7d", r.M, r.K, r.N, r.Trans, r.Threads)
		for _, q := range rep.Results[i : i+np] {
			fmt.Fprintf(w, " %13.1f %6.0f%%", q.GFLOPS, 100*q.FractionOfPeak)
		}
		if np > 1 {
			fmt.Fprintf(w, " %8.2fx", r.GFLOPS/rep.Results[i+1].GFLOPS)
		}
		fmt.Fprintln(w)
	}
}

// defaultBenchPaths are the assembly paths this CPU has (zmm, ymm), or go
// when it has none; only the active one when GOLORA_KERNELS chose it.
func defaultBenchPaths() []string {
	if os.Getenv(kernels.PathEnv) != "" {
		return []string{kernels.KernelPath()}
	}
	var out []string
	for _, p := range kernels.KernelPaths() {
		if p != kernels.PathGo {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = []string{kernels.PathGo}
	}
	return out
}

// parsePaths parses "zmm,ymm" into kernel paths this CPU can run.
func parsePaths(s string) ([]string, error) {
	var out []string
	for _, f := range splitList(s) {
		f = strings.ToLower(f)
		if !slices.Contains([]string{kernels.PathZMM, kernels.PathYMM, kernels.PathGo}, f) {
			return nil, usagef("bench gemm: bad --paths value %q (want zmm, ymm or go)", f)
		}
		if !slices.Contains(kernels.KernelPaths(), f) {
			return nil, usagef("bench gemm: kernel path %s is not available on this CPU or build (available: %s)", f, strings.Join(kernels.KernelPaths(), ", "))
		}
		if slices.Contains(out, f) {
			return nil, usagef("bench gemm: --paths lists %s twice", f)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, usagef("bench gemm: --paths is empty")
	}
	return out, nil
}

// timeGemm returns, for each kernel path, the median (or best) GFLOP/s of
// reps timed runs of one product on random data. The paths are interleaved (each
// repetition runs every path in turn), so a change in the machine's load
// affects them alike and their ratio is meaningful even on a busy machine.
// A run repeats the product until it lasts >= 2 ms, so that small products
// are timed well above the clock's resolution. With cpuTime the runs are
// timed by the thread's CPU clock: on a shared machine that removes the
// time other processes held the core (not their effect on the caches).
func timeGemm(s gemmShape, trans string, reps int, paths []string, best, cpuTime bool) []float64 {
	clock := func() float64 { return float64(time.Now().UnixNano()) * 1e-9 }
	if cpuTime {
		clock = func() float64 { t, _ := cpuclock.Thread(); return t.Seconds() }
	}
	transA, transB := trans[0] == 'T', trans[1] == 'T'
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.Float64()*2 - 1)
		}
		return x
	}
	a, b, c := fill(s.m*s.k), fill(s.k*s.n), make([]float32, s.m*s.n)
	lda, ldb := s.k, s.n
	if transA {
		lda = s.m
	}
	if transB {
		ldb = s.k
	}
	call := func() { kernels.Sgemm(transA, transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n) }
	inner := make([]int, len(paths))
	for i, p := range paths {
		kernels.SetKernelPath(p)
		t0 := time.Now()
		call() // warm up: packing buffers, caches, page faults
		inner[i] = max(1, int(2*time.Millisecond/max(time.Since(t0), time.Microsecond)))
	}
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
	rates := make([][]float64, len(paths))
	for range reps {
		for i, p := range paths {
			kernels.SetKernelPath(p)
			t0 := clock()
			for range inner[i] {
				call()
			}
			rates[i] = append(rates[i], flops*float64(inner[i])/max(clock()-t0, 1e-9)/1e9)
		}
	}
	out := make([]float64, len(paths))
	for i, r := range rates {
		sort.Float64s(r)
		out[i] = r[len(r)/2]
		if best {
			out[i] = r[len(r)-1]
		}
	}
	return out
}

// parseThreads parses "1,2" into positive thread counts.
func parseThreads(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, usagef("bench gemm: bad --threads value %q (want positive integers, e.g. 1,2)", f)
		}
		if err := checkListValue("threads", n, 1, maxThreads); err != nil {
			return nil, usagef("bench gemm: %v", err)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, usagef("bench gemm: --threads is empty")
	}
	return out, nil
}

// parseShapes parses "1576x192x16,512x1024x1024" (M×K×N).
func parseShapes(s string) ([]gemmShape, error) {
	var out []gemmShape
	for _, f := range splitList(s) {
		p := strings.Split(f, "x")
		var d [3]int
		ok := len(p) == 3
		for i := 0; ok && i < 3; i++ {
			n, err := strconv.Atoi(p[i])
			ok = err == nil && n > 0 && n <= 1<<16
			d[i] = n
		}
		if !ok {
			return nil, usagef("bench gemm: bad --shapes value %q (want MxKxN, each 1..65536)", f)
		}
		m, k, n := int64(d[0]), int64(d[1]), int64(d[2])
		if err := sizecheck.Memory("bench gemm: --shapes "+f, sizecheck.Mul(4, sizecheck.Add(m*k, k*n, m*n))); err != nil {
			return nil, usageError{err.Error()}
		}
		out = append(out, gemmShape{d[0], d[1], d[2]})
	}
	if len(out) == 0 {
		return nil, usagef("bench gemm: --shapes is empty")
	}
	return out, nil
}
