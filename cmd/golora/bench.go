package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

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
	"gemm": {summary: "GEMM GFLOP/s on the shapes of a ViT LoRA step, against the FMA peak", run: runBenchGemm},
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

// gemmResult is one line of the report (and of its JSON form).
type gemmResult struct {
	M              int     `json:"m"`
	K              int     `json:"k"`
	N              int     `json:"n"`
	Trans          string  `json:"trans"`
	Threads        int     `json:"threads"`
	GFLOPS         float64 `json:"gflops"`
	FractionOfPeak float64 `json:"fraction_of_peak"`
}

type gemmReport struct {
	PeakGFLOPS float64      `json:"peak_gflops"`
	Results    []gemmResult `json:"results"`
}

func runBenchGemm(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench gemm", "[--threads 1,2] [--reps N] [--json] [--shapes MxKxN,...] [--trans NN,NT,TN]", stderr)
	threadsFlag := fs.String("threads", "1", "comma-separated thread counts to run each product with")
	reps := fs.Int("reps", 11, "timed repetitions per product; the median is reported")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	shapesFlag := fs.String("shapes", "", "comma-separated MxKxN products (default: the ViT LoRA step set)")
	transFlag := fs.String("trans", "NN,NT,TN", "comma-separated transpose variants of (A, B): NN, NT, TN, TT")
	peakTime := fs.Duration("peak-time", 300*time.Millisecond, "how long to measure the FMA peak")
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

	rep := gemmReport{PeakGFLOPS: kernels.MeasurePeakGFLOPS(*peakTime)}
	defer kernels.SetThreads(kernels.SetThreads(1))
	for _, s := range shapes {
		for _, tr := range trans {
			for _, th := range threads {
				kernels.SetThreads(th)
				g := timeGemm(s, tr, *reps)
				rep.Results = append(rep.Results, gemmResult{
					M: s.m, K: s.k, N: s.n, Trans: tr, Threads: th,
					GFLOPS: g, FractionOfPeak: g / rep.PeakGFLOPS,
				})
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
	fmt.Fprintf(stdout, "FMA peak, one core: %.1f GFLOP/s (GOMAXPROCS %d)\n", rep.PeakGFLOPS, runtime.GOMAXPROCS(0))
	fmt.Fprintf(stdout, "%6s %6s %6s %5s %7s %9s %8s\n", "M", "K", "N", "trans", "threads", "GFLOP/s", "of peak")
	for _, r := range rep.Results {
		fmt.Fprintf(stdout, "%6d %6d %6d %5s %7d %9.1f %7.0f%%\n", r.M, r.K, r.N, r.Trans, r.Threads, r.GFLOPS, 100*r.FractionOfPeak)
	}
	return nil
}

// timeGemm returns the median GFLOP/s of reps timed runs of one product on
// random data. A run repeats the product until it lasts >= 2 ms, so that
// small products are timed well above the clock's resolution.
func timeGemm(s gemmShape, trans string, reps int) float64 {
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
	t0 := time.Now()
	call() // warm up: packing buffers, caches, page faults
	inner := max(1, int(2*time.Millisecond/max(time.Since(t0), time.Microsecond)))
	rates := make([]float64, reps)
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(inner)
	for r := range rates {
		t0 := time.Now()
		for range inner {
			call()
		}
		rates[r] = flops / time.Since(t0).Seconds() / 1e9
	}
	sort.Float64s(rates)
	return rates[len(rates)/2]
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
