package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/golora/golora/collective"
)

// TestPlanParallel: golora plan --world-size prints one rank's sharded
// bytes and the bytes it sends per step, full against LoRA.
func TestPlanParallel(t *testing.T) {
	var so, se bytes.Buffer
	args := []string{"plan", "--model", "../../assets/vit-mnist-0-4", "--batch", "8", "--compare", "--world-size", "2", "--zero-stage", "2"}
	if code := run(args, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	for _, want := range []string{"2 data-parallel ranks, ZeRO stage 2", "sent/step", "x full sent", "0.0551"} {
		if !strings.Contains(so.String(), want) {
			t.Errorf("plan output lacks %q:\n%s", want, so.String())
		}
	}
	so.Reset()
	if code := run(append(args[:len(args)-5], "--method", "lora", "--world-size", "4", "--zero-stage", "1", "--json"), &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	var r planResult
	if err := json.Unmarshal(so.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.WorldSize != 4 || r.ZeroStage != 1 || r.Sent <= 0 || r.Comm["all_gather"].Calls == 0 {
		t.Errorf("JSON %+v: want 4 ranks at ZeRO-1 with bytes sent and all-gathers", r)
	}
	for _, bad := range [][]string{{"--world-size", "0"}, {"--zero-stage", "3"}, {"--gradient-accumulation-steps", "0"}} {
		if code := run(append([]string{"plan", "--preset", "vit-small-64"}, bad...), &so, &se); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}

// TestBenchTrainParallel: bench train --world-size 2 runs data-parallel
// steps on an in-process group; its measured bytes (summed over the ranks)
// and bytes sent equal the planner's.
func TestBenchTrainParallel(t *testing.T) {
	var so, se bytes.Buffer
	if code := run([]string{"bench", "train", "--preset", "vit-small-64", "--batch", "1", "--steps", "1", "--warmup", "0",
		"--methods", "full,lora", "--world-size", "2", "--zero-stage", "2", "--json"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	var rep struct {
		Results []trainResult `json:"results"`
	}
	if err := json.Unmarshal(so.Bytes(), &rep); err != nil || len(rep.Results) != 2 {
		t.Fatalf("%v: %s", err, so.String())
	}
	for _, r := range rep.Results {
		for k, v := range r.Planned.Bytes {
			if r.Bytes[k] != v {
				t.Errorf("%s: %s measured %d, planned %d", r.Method, k, r.Bytes[k], v)
			}
		}
		p := r.Parallel
		if p == nil || p.WorldSize != 2 || !p.InProcess || p.SentPerStep != p.PlannedSent || p.SentPerStep == 0 || len(p.PerRankStepMS) != 2 {
			t.Errorf("%s: data-parallel result %+v", r.Method, p)
		}
	}
	if f, l := rep.Results[0].Parallel.SentPerStep, rep.Results[1].Parallel.SentPerStep; l*10 > f {
		t.Errorf("LoRA sends %d bytes a step, full %d", l, f)
	}
}

// TestNoMPIBuildUnderMpirun: a build without MPI that mpirun starts as one
// of several ranks refuses to train (each rank would otherwise train alone
// into the same output directory).
func TestNoMPIBuildUnderMpirun(t *testing.T) {
	if collective.MPIBuilt {
		t.Skip("built with MPI")
	}
	t.Setenv("OMPI_COMM_WORLD_SIZE", "2")
	t.Setenv("OMPI_COMM_WORLD_RANK", "1")
	var so, se bytes.Buffer
	code := run([]string{"train", "--model", "../../assets/vit-mnist-0-4", "--dataset", "mnist", "--output-dir", t.TempDir()}, &so, &se)
	if code != 1 || !strings.Contains(se.String(), "rank 1 of 2 started by mpirun, but golora was built without MPI support; build it with -tags mpi") {
		t.Errorf("exit %d: %s", code, se.String())
	}
}
