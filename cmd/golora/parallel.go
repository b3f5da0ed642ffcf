package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/plan"
	"github.com/golora/golora/train"
)

// joinJob returns this process's place in a data-parallel job: a rank of
// MPI_COMM_WORLD under mpirun (built with -tags mpi), else one process. A
// build without MPI started as one of several ranks is an error.
func joinJob() (collective.Comm, error) {
	return collective.Init()
}

// leaveJob ends a command run as a rank of c (defer it with the command's
// error): with several ranks, an error or a panic is printed with the
// rank and stops every rank (MPI_Abort: mpirun then kills the job and
// exits non-zero); success finalises MPI.
func leaveJob(c collective.Comm, errp *error, stderr io.Writer) {
	if c.Size() == 1 {
		return
	}
	if p := recover(); p != nil {
		*errp = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
	}
	if *errp != nil {
		fmt.Fprintf(stderr, "golora: rank %d of %d failed: %v; stopping every rank\n", c.Rank(), c.Size(), *errp)
		c.Abort(*errp)
		return
	}
	if err := collective.Finalize(); err != nil {
		*errp = err
	}
}

// setRankThreads applies --threads for one of the job's ranks: 0 shares
// the cores among the ranks this launcher started on the machine.
func setRankThreads(n int, c collective.Comm) error {
	if n == 0 && c.Size() > 1 {
		n = max(1, runtime.GOMAXPROCS(0)/collective.LocalSize())
	}
	return setThreads(n)
}

// quietRank returns w on rank 0 and io.Discard on the others, which keep
// their output for errors.
func quietRank(w io.Writer, c collective.Comm) io.Writer {
	if c.Rank() != 0 {
		return io.Discard
	}
	return w
}

// runParallel is the planner's view of a training run on c's ranks.
func runParallel(c collective.Comm, a *train.Args) plan.Parallel {
	return plan.Parallel{WorldSize: c.Size(), ZeroStage: a.ZeroStage, GradientAccumulationSteps: a.GradientAccumulationSteps}
}
