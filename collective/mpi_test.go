//go:build mpi

package collective

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// MPIRunArgs are the mpirun flags golora's tests and CI use: root is
// allowed (containers), more ranks than cores, and no binding of a rank to
// one core (which would drop GOMAXPROCS to 1).
var MPIRunArgs = []string{"--allow-run-as-root", "--oversubscribe", "--bind-to", "none"}

// mpirun runs this test binary's TestMPIWorker on np ranks in mode and
// returns its combined output and error.
func mpirun(t *testing.T, np int, mode string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("mpirun"); err != nil {
		t.Fatalf("mpirun not found (apt-get install openmpi-bin libopenmpi-dev): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append(append([]string{}, MPIRunArgs...), "-np", fmt.Sprint(np), "-x", "GOLORA_MPI_WORKER="+mode,
		os.Args[0], "-test.run=^TestMPIWorker$", "-test.v")
	out, err := exec.CommandContext(ctx, "mpirun", args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mpirun %s did not finish in time:\n%s", mode, out)
	}
	return string(out), err
}

// TestMPI runs the MPI backend under real mpirun: the operations at 2 and
// 3 ranks, and a failing rank (MPI_Abort, SIGKILL) ending the job non-zero.
func TestMPI(t *testing.T) {
	if os.Getenv("GOLORA_MPI_WORKER") != "" {
		t.Skip("inside mpirun")
	}
	for _, np := range []int{2, 3} {
		if out, err := mpirun(t, np, "ops"); err != nil || strings.Count(out, "worker ok") != np {
			t.Errorf("np %d: %v\n%s", np, err, out)
		}
	}
	out, err := mpirun(t, 2, "abort")
	// mpirun's own MPI_ABORT notice is not always printed (its help
	// system can fail in containers); the exit status and the rank's own
	// message are what count.
	if err == nil || !strings.Contains(out, "rank 1 gives up") {
		t.Errorf("abort: exit %v, want non-zero with the rank's message:\n%s", err, out)
	}
	out, err = mpirun(t, 2, "kill")
	if err == nil || !strings.Contains(out, "signal 9") {
		t.Errorf("kill: exit %v, want non-zero naming the killed rank:\n%s", err, out)
	}
}

// TestMPIWorker is one rank of TestMPI.
func TestMPIWorker(t *testing.T) {
	mode := os.Getenv("GOLORA_MPI_WORKER")
	if mode == "" {
		t.Skip("run by TestMPI under mpirun")
	}
	c, err := Init()
	if err != nil {
		t.Fatal(err)
	}
	defer Finalize()
	size, r := c.Size(), c.Rank()
	switch mode {
	case "abort":
		if r == 1 {
			fmt.Fprintln(os.Stderr, "rank 1 gives up")
			c.Abort(errors.New("rank 1 gives up"))
		}
		c.Barrier() // rank 0 waits here until mpirun kills it
		t.Fatal("rank 0 passed a barrier rank 1 never reached")
	case "kill":
		if r == 1 {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		c.AllReduceSum(make([]float32, 10))
		t.Fatal("rank 0 finished an all-reduce without rank 1")
	}
	in := inputs(size, 3001, 7)
	counts := Split(3001, size)
	offs, _ := Offsets(counts, size, 3001)
	buf := append([]float32(nil), in[r]...)
	if err := c.AllReduceSum(buf); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		// With two ranks every algorithm adds a+b; with more, the order is
		// MPI's, so compare loosely.
		want := rankOrderSum(in, i)
		if d := buf[i] - want; (size == 2 && d != 0) || d > 1e-5 || d < -1e-5 {
			t.Fatalf("all-reduce [%d] = %v, want %v", i, buf[i], want)
		}
	}
	buf = append(buf[:0], in[r]...)
	if err := c.ReduceScatterSum(buf, counts); err != nil {
		t.Fatal(err)
	}
	for i := offs[r]; i < offs[r]+counts[r]; i++ {
		if d := buf[i] - rankOrderSum(in, i); (size == 2 && d != 0) || d > 1e-5 || d < -1e-5 {
			t.Fatalf("reduce-scatter [%d] = %v, want %v", i, buf[i], rankOrderSum(in, i))
		}
	}
	buf = make([]float32, 3001)
	copy(buf[offs[r]:offs[r]+counts[r]], in[r][offs[r]:])
	if err := c.AllGather(buf, counts); err != nil {
		t.Fatal(err)
	}
	for q := range size {
		for i := offs[q]; i < offs[q]+counts[q]; i++ {
			if buf[i] != in[q][i] {
				t.Fatalf("all-gather [%d] = %v, want %v", i, buf[i], in[q][i])
			}
		}
	}
	buf = append(buf[:0], in[r]...)
	if err := c.Bcast(buf, size-1); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		if buf[i] != in[size-1][i] {
			t.Fatalf("bcast [%d] = %v", i, buf[i])
		}
	}
	f := []float64{float64(r)}
	if err := c.AllReduceSum64(f); err != nil || f[0] != float64(size*(size-1)/2) {
		t.Fatalf("all-reduce64 = %v, %v", f, err)
	}
	if err := c.Barrier(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("worker ok")
}

// BenchmarkMPIAllReduce times MPI all-reduces of gradient-sized buffers.
// Run it on every rank with a fixed count, so the ranks agree on the
// number of calls:
//
//	go test -c -tags mpi ./collective
//	mpirun -np 2 --bind-to none ./collective.test -test.run '^$' -test.bench MPIAllReduce -test.benchtime 100x
func BenchmarkMPIAllReduce(b *testing.B) {
	if _, _, ok := launched(); !ok {
		b.Skip("run under mpirun")
	}
	c, err := Init()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { Finalize() })
	for _, n := range []int{37349, 678245, 1 << 20} { // LoRA and full gradients of the shipped ViT, 4 MiB
		b.Run(fmt.Sprintf("%d-floats", n), func(b *testing.B) {
			buf := make([]float32, n)
			b.SetBytes(4 * int64(n))
			for b.Loop() {
				if err := c.AllReduceSum(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
