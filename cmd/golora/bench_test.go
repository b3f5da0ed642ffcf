package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchGemmJSON(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"bench", "gemm", "--json", "--reps", "1", "--peak-time", "1ms",
		"--shapes", "13x7x17,6x16x32", "--trans", "NN,TN", "--threads", "1,2"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, errb.String())
	}
	var rep struct {
		Peak    *float64 `json:"peak_gflops"`
		Results []struct {
			M, K, N  int
			Trans    string
			Threads  int
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
	if rep.Peak == nil || *rep.Peak <= 0 {
		t.Fatalf("peak_gflops missing or not positive: %v", rep.Peak)
	}
	if len(rep.Results) != 8 {
		t.Fatalf("%d results, want 2 shapes × 2 variants × 2 thread counts = 8", len(rep.Results))
	}
	r := rep.Results[0]
	if r.M != 13 || r.K != 7 || r.N != 17 || r.Trans != "NN" || r.Threads != 1 {
		t.Errorf("first result %+v, want 13x7x17 NN on 1 thread", r)
	}
	for _, r := range rep.Results {
		if !(r.GFLOPS > 0) || r.Fraction != r.GFLOPS / *rep.Peak {
			t.Errorf("result %+v: gflops must be positive and fraction = gflops/peak", r)
		}
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
