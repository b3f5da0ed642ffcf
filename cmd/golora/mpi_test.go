//go:build mpi

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golora/golora/data"
	"github.com/golora/golora/safetensors"
)

// With -tags mpi this test binary doubles as golora: mpirun starts it with
// GOLORA_AS_CLI=1, so the real command runs as the ranks without another
// build.
func TestMain(m *testing.M) {
	if os.Getenv("GOLORA_AS_CLI") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// mpiFlags: root is allowed (containers), more ranks than cores, and no
// binding of a rank to one core (which would drop GOMAXPROCS to 1).
var mpiFlags = []string{"--allow-run-as-root", "--oversubscribe", "--bind-to", "none"}

// mpirunCmd is "mpirun -np np <this binary as golora> args...".
func mpirunCmd(ctx context.Context, t *testing.T, np int, args ...string) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath("mpirun"); err != nil {
		t.Fatalf("mpirun not found (apt-get install openmpi-bin libopenmpi-dev): %v", err)
	}
	a := append(append([]string{}, mpiFlags...), "-np", strconv.Itoa(np), "-x", "GOLORA_AS_CLI=1", os.Args[0])
	return exec.CommandContext(ctx, "mpirun", append(a, args...)...)
}

// smallMNIST writes the first 1,200 training and 600 test images of MNIST
// as idx files into a directory (once per test binary), so that runs load
// fast.
func smallMNIST(t *testing.T) string {
	t.Helper()
	smallOnce.Do(func() {
		dir, err := os.MkdirTemp("", "golora-mnist-small")
		if err != nil {
			smallErr = err
			return
		}
		for _, sp := range []struct {
			split data.Split
			name  string
			n     int
		}{{data.Train, "train", 1200}, {data.Test, "t10k", 600}} {
			d, err := data.LoadMNIST(sp.split)
			if err != nil {
				smallErr = err
				return
			}
			img := binary.BigEndian.AppendUint32(nil, 0x803)
			img = binary.BigEndian.AppendUint32(img, uint32(sp.n))
			img = binary.BigEndian.AppendUint32(img, 28)
			img = binary.BigEndian.AppendUint32(img, 28)
			lab := binary.BigEndian.AppendUint32(nil, 0x801)
			lab = binary.BigEndian.AppendUint32(lab, uint32(sp.n))
			for i := range sp.n {
				img = append(img, d.Images[i].Pix...)
				lab = append(lab, uint8(d.Labels[i]))
			}
			if err := os.WriteFile(filepath.Join(dir, sp.name+"-images-idx3-ubyte"), img, 0o644); err != nil {
				smallErr = err
				return
			}
			if err := os.WriteFile(filepath.Join(dir, sp.name+"-labels-idx1-ubyte"), lab, 0o644); err != nil {
				smallErr = err
				return
			}
		}
		smallDir = dir
	})
	if smallErr != nil {
		t.Fatal(smallErr)
	}
	return smallDir
}

var (
	smallOnce sync.Once
	smallDir  string
	smallErr  error
)

// trainArgs is a short real fine-tuning of the shipped ViT on MNIST 5-9
// (a small part of it).
func trainArgs(t *testing.T, method, dir string, batch int) []string {
	// AdamW's first steps move a value by about the learning rate
	// whatever its gradient's size, so values whose gradients are small
	// carry the rounding differences of the two summation orders
	// (one GEMM over 16 examples, or two over 8 added) as differences of
	// up to lr x (their relative rounding noise): a moderate rate keeps
	// them well inside 1e-5.
	lr := "1e-3"
	if method == "full" {
		lr = "5e-4"
	}
	return []string{"train", "--model", "../../assets/vit-mnist-0-4", "--dataset", smallMNIST(t), "--classes", "5-9",
		"--method", method, "--max-steps", "6", "--learning-rate", lr, "--lora-dropout", "0.1",
		"--per-device-train-batch-size", strconv.Itoa(batch), "--per-device-eval-batch-size", "512",
		"--logging-steps", "3", "--output-dir", dir}
}

// weights reads a safetensors file's tensors.
func weights(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	f, err := safetensors.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, n := range f.Names() {
		v, err := f.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = append([]float32(nil), v.F32()...)
	}
	return out
}

// TestMPITrainMatchesOneProcess: golora train under real mpirun, 2 ranks
// with batch 8, writes the adapter (or model) one process with batch 16
// writes, within 1e-5 (max|a-b| / max|b|), for LoRA at ZeRO-0 and ZeRO-2
// and full fine-tuning at ZeRO-1.
func TestMPITrainMatchesOneProcess(t *testing.T) {
	if os.Getenv("GOLORA_AS_CLI") != "" {
		t.Skip()
	}
	ref := map[string]string{}
	for _, method := range []string{"lora", "full"} {
		dir := t.TempDir()
		var out, errb bytes.Buffer
		if code := run(trainArgs(t, method, dir, 16), &out, &errb); code != 0 {
			t.Fatalf("one process, %s: exit %d\n%s", method, code, errb.String())
		}
		ref[method] = dir
	}
	for _, c := range []struct {
		method string
		stage  int
	}{{"lora", 0}, {"lora", 2}, {"full", 1}} {
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := mpirunCmd(ctx, t, 2, append(trainArgs(t, c.method, dir, 8), "--zero-stage", strconv.Itoa(c.stage))...)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("mpirun %s ZeRO-%d: %v\n%s", c.method, c.stage, err, out)
		}
		if n := strings.Count(string(out), "trained 6 steps"); n != 1 {
			t.Errorf("%s ZeRO-%d: %d summaries printed, want rank 0's only:\n%s", c.method, c.stage, n, out)
		}
		file := "adapter_model.safetensors"
		if c.method == "full" {
			file = "model.safetensors"
		}
		got, want := weights(t, filepath.Join(dir, file)), weights(t, filepath.Join(ref[c.method], file))
		var diff, scale float64
		worst, worstDiff := "", 0.0
		for name, w := range want {
			// Attention's key bias has a zero gradient in exact arithmetic
			// (softmax ignores a shift of the keys): AdamW turns its
			// rounding noise into steps, so it differs between any two
			// summation orders and is left out of the comparison.
			if strings.HasSuffix(name, ".key.bias") {
				continue
			}
			g := got[name]
			if len(g) != len(w) {
				t.Fatalf("%s: %d values, one process %d", name, len(g), len(w))
			}
			for i := range w {
				d := math.Abs(float64(g[i] - w[i]))
				if d > worstDiff {
					worst, worstDiff = fmt.Sprintf("%s[%d] = %v vs %v", name, i, g[i], w[i]), d
				}
				diff = math.Max(diff, d)
				scale = math.Max(scale, math.Abs(float64(w[i])))
			}
		}
		t.Logf("%s ZeRO-%d: 2 ranks x 8 vs 1 x 16: max|diff|/max|value| = %.2g (largest at %s)", c.method, c.stage, diff/scale, worst)
		if diff/scale > 1e-5 {
			t.Errorf("%s ZeRO-%d: 2 ranks differ from one process by %g (relative)", c.method, c.stage, diff/scale)
		}
	}
}

// rankPID finds the process of rank among the children of mpirun (pid).
func rankPID(pid, rank int) int {
	kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, f := range strings.Fields(string(kids)) {
		env, _ := os.ReadFile("/proc/" + f + "/environ")
		if bytes.Contains(env, []byte(fmt.Sprintf("OMPI_COMM_WORLD_RANK=%d\x00", rank))) {
			p, _ := strconv.Atoi(f)
			return p
		}
	}
	return 0
}

// TestMPIRankDies: killing one rank (SIGKILL) in the middle of a run
// makes mpirun exit non-zero naming it; every checkpoint left is
// complete, and the latest resumes in one process.
func TestMPIRankDies(t *testing.T) {
	if os.Getenv("GOLORA_AS_CLI") != "" {
		t.Skip()
	}
	dir := t.TempDir()
	args := trainArgs(t, "lora", dir, 8)
	args = append(args, "--save-steps", "2", "--max-steps", "100000", "--zero-stage", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := mpirunCmd(ctx, t, 2, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "checkpoint-4", "trainer_state.json")); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no checkpoint-4 in time:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	victim := rankPID(cmd.Process.Pid, 1)
	if victim == 0 {
		t.Fatal("rank 1's process not found among mpirun's children")
	}
	syscall.Kill(victim, syscall.SIGKILL)
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("mpirun did not stop after rank 1 was killed:\n%s", out.String())
	}
	if err == nil || !strings.Contains(out.String(), "signal 9") {
		t.Fatalf("mpirun exited with %v, want non-zero naming the killed rank:\n%s", err, out.String())
	}
	// Only whole checkpoints: each has everything a resume reads.
	ents, _ := os.ReadDir(dir)
	latest := 0
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name(), "checkpoint-")
		if !ok {
			continue
		}
		for _, f := range []string{"trainer_state.json", "optimizer.safetensors", "trainable.safetensors", "adapter_model.safetensors", "adapter_config.json"} {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), f)); err != nil {
				t.Errorf("%s is incomplete: %v", e.Name(), err)
			}
		}
		n, _ := strconv.Atoi(s)
		latest = max(latest, n)
	}
	t.Logf("mpirun: %v; checkpoints up to %d", err, latest)
	// The latest resumes in one process with the same global batch.
	resume := append(trainArgs(t, "lora", dir, 16), "--resume", "--save-steps", "2", "--max-steps", strconv.Itoa(latest+2))
	var o, e bytes.Buffer
	if code := run(resume, &o, &e); code != 0 {
		t.Fatalf("resume in one process: exit %d\n%s", code, e.String())
	}
	if !strings.Contains(e.String(), fmt.Sprintf("resuming from step %d", latest)) {
		t.Errorf("resume did not start at step %d:\n%s", latest, e.String())
	}
}

// TestMPIBenchTrainJSON: under mpirun, bench train --json prints rank 0's
// figures once, and the other ranks (which hold no measurements) exit
// cleanly instead of failing to encode undefined ratios.
func TestMPIBenchTrainJSON(t *testing.T) {
	if os.Getenv("GOLORA_AS_CLI") != "" {
		t.Skip()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := mpirunCmd(ctx, t, 2, "bench", "train", "--preset", "vit-small-64", "--batch", "2", "--warmup", "0", "--steps", "2",
		"--methods", "full,lora", "--zero-stage", "1", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mpirun bench train: %v\nstderr: %s", err, stderr.String())
	}
	var out struct {
		Results []trainResult `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	if len(out.Results) != 2 {
		t.Fatalf("%d results, want full and lora", len(out.Results))
	}
	for _, r := range out.Results {
		if r.Parallel == nil || r.Parallel.WorldSize != 2 || r.ExamplesPerS <= 0 || r.TotalBytes <= 0 || r.Parallel.SentPerStep <= 0 {
			t.Errorf("%s: %+v", r.Method, r)
		}
	}
	if lora, full := out.Results[1].Parallel.SentPerStep, out.Results[0].Parallel.SentPerStep; lora >= full {
		t.Errorf("LoRA sends %d bytes per step, full %d: want fewer", lora, full)
	}
}
