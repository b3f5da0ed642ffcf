package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/golora/golora/internal/cpuclock"
	"github.com/golora/golora/kernels"
)

func TestBenchGemmJSON(t *testing.T) {
	paths := kernels.KernelPaths()
	var out, errb bytes.Buffer
	code := run([]string{"bench", "gemm", "--json", "--reps", "1", "--peak-time", "1ms",
		"--shapes", "13x7x17,6x16x32", "--trans", "NN,TN", "--threads", "1,2", "--paths", strings.Join(paths, ",")}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, errb.String())
	}
	var rep struct {
		Peak    *float64           `json:"peak_gflops"`
		Paths   []string           `json:"paths"`
		Peaks   map[string]float64 `json:"peaks"`
		Results []struct {
			M, K, N  int
			Trans    string
			Threads  int
			Path     string
			GFLOPS   float64 `json:"gflops"`
			Fraction float64 `json:"fraction_of_peak"`
		} `json:"results"`
	}
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("output is not the report JSON: %v", err)
	}
	if dec.More() {
		t.Fatal("more than one JSON value on stdout")
	}
	if rep.Peak == nil || *rep.Peak <= 0 || *rep.Peak != rep.Peaks[paths[0]] {
		t.Fatalf("peak_gflops %v, want the positive peak of %s in %v", rep.Peak, paths[0], rep.Peaks)
	}
	if !slices.Equal(rep.Paths, paths) || len(rep.Peaks) != len(paths) {
		t.Fatalf("paths %v, peaks %v; want %v", rep.Paths, rep.Peaks, paths)
	}
	if want := 8 * len(paths); len(rep.Results) != want {
		t.Fatalf("%d results, want 2 shapes × 2 variants × 2 thread counts × %d paths = %d", len(rep.Results), len(paths), want)
	}
	r := rep.Results[0]
	if r.M != 13 || r.K != 7 || r.N != 17 || r.Trans != "NN" || r.Threads != 1 || r.Path != paths[0] {
		t.Errorf("first result %+v, want 13x7x17 NN on 1 thread, path %s", r, paths[0])
	}
	for i, r := range rep.Results {
		if r.Path != paths[i%len(paths)] {
			t.Errorf("result %d is path %s, want the paths in turn", i, r.Path)
		}
		if !(r.GFLOPS > 0) || r.Fraction != r.GFLOPS/rep.Peaks[r.Path] {
			t.Errorf("result %+v: gflops must be positive and fraction = gflops/peak of its path", r)
		}
	}
	if kernels.KernelPath() != paths[0] {
		t.Errorf("bench gemm left the kernel path at %s", kernels.KernelPath())
	}
}

func TestBenchGemmTable(t *testing.T) {
	var out, errb bytes.Buffer
	args := []string{"bench", "gemm", "--reps", "1", "--peak-time", "1ms", "--shapes", "20x30x40", "--trans", "NT", "--paths", "go"}
	if _, ok := cpuclock.Thread(); ok {
		args = append(args, "--cpu-time")
	}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "go ") || !strings.Contains(lines[1], "go GFLOP/s") || !strings.HasPrefix(strings.TrimSpace(lines[2]), "20     30     40    NT") {
		t.Errorf("table:\n%s", out.String())
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bench"},
		{"bench", "nosuch"},
		{"bench", "gemm", "--nosuch"},
		{"bench", "gemm", "--reps", "0"},
		{"bench", "gemm", "--threads", "0"},
		{"bench", "gemm", "--threads", "x"},
		{"bench", "gemm", "--shapes", "12x7"},
		{"bench", "gemm", "--trans", "NX"},
		{"bench", "gemm", "extra"},
		{"bench", "gemm", "--paths", "avx9"},
		{"bench", "gemm", "--paths", "go,go"},
		{"bench", "gemm", "--paths", ""},
		{"bench", "gemm", "--cpu-time", "--threads", "1,2"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit code %d, want 2", args, code)
		}
		if msg := errb.String(); strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "golora: ") || !strings.Contains(msg, "bench") {
			t.Errorf("%v: stderr %q, want one line about bench", args, msg)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"bench", "gemm", "--help"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "-reps") {
		t.Errorf("bench gemm --help: exit code %d, stderr %q; want 0 and the flag list", code, errb.String())
	}
}
