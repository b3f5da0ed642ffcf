//go:build mpi

package collective

// The one pkg-config line of the MPI build: every cgo file selected by a
// build tag carries its own (golang/go#73033: the build cache may otherwise
// reuse an object built without it).

/*
#cgo pkg-config: ompi-c
#include <stdlib.h>
#include <mpi.h>

static MPI_Datatype golora_f32(void) { return MPI_FLOAT; }
static MPI_Datatype golora_f64(void) { return MPI_DOUBLE; }
static int golora_init(int *provided) {
	int err = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
	if (err == MPI_SUCCESS) MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	return err;
}
static int golora_allreduce(void *buf, int n, MPI_Datatype t) {
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, t, MPI_SUM, MPI_COMM_WORLD);
}
static int golora_reduce_scatter(float *buf, const int *counts) {
	return MPI_Reduce_scatter(MPI_IN_PLACE, buf, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}
static int golora_allgather(float *buf, const int *counts, const int *displs) {
	return MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, MPI_COMM_WORLD);
}
static int golora_bcast(float *buf, int n, int root) {
	return MPI_Bcast(buf, n, MPI_FLOAT, root, MPI_COMM_WORLD);
}
static int golora_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }
static int golora_rank(int *r) { return MPI_Comm_rank(MPI_COMM_WORLD, r); }
static int golora_size(int *s) { return MPI_Comm_size(MPI_COMM_WORLD, s); }
static void golora_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
static int golora_finalize(void) { return MPI_Finalize(); }
*/
import "C"

import (
	"fmt"
	"math"
	"os"
	"sync"
	"unsafe"
)

// MPIBuilt reports whether this binary was built with MPI (-tags mpi).
const MPIBuilt = true

var (
	mpiOnce  sync.Once
	mpiComm  *mpiWorld
	mpiErr   error
	mpiEnded bool
)

// Init returns the Comm of this process: MPI_COMM_WORLD when a launcher
// (mpirun) started it, after MPI_Init_thread (MPI_THREAD_SERIALIZED:
// golora calls MPI from one goroutine at a time, whichever thread it runs
// on); Local otherwise. MPI errors are returned, not fatal; a rank that
// dies still makes mpirun kill the job.
func Init() (Comm, error) {
	if _, _, ok := launched(); !ok {
		return Local{}, nil
	}
	mpiOnce.Do(func() {
		var provided C.int
		if err := C.golora_init(&provided); err != C.MPI_SUCCESS {
			mpiErr = fmt.Errorf("collective: MPI_Init_thread: %s", errString(err))
			return
		}
		if provided < C.MPI_THREAD_SERIALIZED {
			mpiErr = fmt.Errorf("collective: this MPI library gives thread level %d, golora needs MPI_THREAD_SERIALIZED", int(provided))
			return
		}
		var r, s C.int
		if err := C.golora_rank(&r); err != C.MPI_SUCCESS {
			mpiErr = fmt.Errorf("collective: MPI_Comm_rank: %s", errString(err))
			return
		}
		if err := C.golora_size(&s); err != C.MPI_SUCCESS {
			mpiErr = fmt.Errorf("collective: MPI_Comm_size: %s", errString(err))
			return
		}
		mpiComm = &mpiWorld{rank: int(r), size: int(s)}
	})
	if mpiErr != nil {
		return nil, mpiErr
	}
	return mpiComm, nil
}

// Finalize ends MPI when Init started it (mpirun treats a rank that exits
// without it as failed); otherwise it does nothing.
func Finalize() error {
	if mpiComm == nil || mpiEnded {
		return nil
	}
	mpiComm.mu.Lock()
	defer mpiComm.mu.Unlock()
	mpiEnded = true
	if err := C.golora_finalize(); err != C.MPI_SUCCESS {
		return fmt.Errorf("collective: MPI_Finalize: %s", errString(err))
	}
	return nil
}

func errString(code C.int) string {
	buf := make([]byte, C.MPI_MAX_ERROR_STRING+1)
	var n C.int
	if C.MPI_Error_string(code, (*C.char)(unsafe.Pointer(&buf[0])), &n) != C.MPI_SUCCESS {
		return fmt.Sprintf("MPI error %d", int(code))
	}
	return string(buf[:n])
}

// mpiWorld is MPI_COMM_WORLD. Calls are serialised by mu
// (MPI_THREAD_SERIALIZED).
type mpiWorld struct {
	mu         sync.Mutex
	rank, size int
}

var _ Comm = (*mpiWorld)(nil)

// Rank implements Comm.
func (w *mpiWorld) Rank() int { return w.rank }

// Size implements Comm.
func (w *mpiWorld) Size() int { return w.size }

func (w *mpiWorld) check(what string, code C.int) error {
	if code != C.MPI_SUCCESS {
		return fmt.Errorf("collective: %s on rank %d of %d: %s", what, w.rank, w.size, errString(code))
	}
	return nil
}

// maxCount is the largest count one MPI call takes (a C int); longer
// buffers go in pieces.
const maxCount = 1 << 30

// AllReduceSum implements Comm with MPI_Allreduce(MPI_IN_PLACE, MPI_SUM).
func (w *mpiWorld) AllReduceSum(buf []float32) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(buf) > 0 {
		n := min(len(buf), maxCount)
		if err := w.check("MPI_Allreduce", C.golora_allreduce(unsafe.Pointer(&buf[0]), C.int(n), C.golora_f32())); err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}

// AllReduceSum64 implements Comm.
func (w *mpiWorld) AllReduceSum64(buf []float64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(buf) > 0 {
		n := min(len(buf), maxCount)
		if err := w.check("MPI_Allreduce", C.golora_allreduce(unsafe.Pointer(&buf[0]), C.int(n), C.golora_f64())); err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}

// cInts converts counts to C ints, refusing blocks too long for one call.
func cInts(counts []int) ([]C.int, error) {
	out := make([]C.int, len(counts))
	for i, c := range counts {
		if c > math.MaxInt32 {
			return nil, fmt.Errorf("collective: a block of %d values is longer than one MPI call takes", c)
		}
		out[i] = C.int(c)
	}
	return out, nil
}

// ReduceScatterSum implements Comm with MPI_Reduce_scatter in place, which
// leaves this rank's block at the start of buf: it is moved to its offset.
func (w *mpiWorld) ReduceScatterSum(buf []float32, counts []int) error {
	offs, err := Offsets(counts, w.size, len(buf))
	if err != nil {
		return err
	}
	cc, err := cInts(counts)
	if err != nil {
		return err
	}
	if len(buf) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check("MPI_Reduce_scatter", C.golora_reduce_scatter((*C.float)(unsafe.Pointer(&buf[0])), &cc[0])); err != nil {
		return err
	}
	lo := offs[w.rank]
	copy(buf[lo:lo+counts[w.rank]], buf[:counts[w.rank]])
	return nil
}

// AllGather implements Comm with MPI_Allgatherv in place.
func (w *mpiWorld) AllGather(buf []float32, counts []int) error {
	offs, err := Offsets(counts, w.size, len(buf))
	if err != nil {
		return err
	}
	cc, err := cInts(counts)
	if err != nil {
		return err
	}
	cd, err := cInts(offs)
	if err != nil {
		return err
	}
	if len(buf) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.check("MPI_Allgatherv", C.golora_allgather((*C.float)(unsafe.Pointer(&buf[0])), &cc[0], &cd[0]))
}

// Bcast implements Comm.
func (w *mpiWorld) Bcast(buf []float32, root int) error {
	if root < 0 || root >= w.size {
		return fmt.Errorf("collective: broadcast root %d outside [0, %d)", root, w.size)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(buf) > 0 {
		n := min(len(buf), maxCount)
		if err := w.check("MPI_Bcast", C.golora_bcast((*C.float)(unsafe.Pointer(&buf[0])), C.int(n), C.int(root))); err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}

// Barrier implements Comm.
func (w *mpiWorld) Barrier() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.check("MPI_Barrier", C.golora_barrier())
}

// Abort implements Comm: MPI_Abort on MPI_COMM_WORLD with exit code 1,
// which makes mpirun kill every rank and exit non-zero. The caller prints
// err first; Abort does not return.
func (w *mpiWorld) Abort(err error) {
	C.golora_abort(1)
	os.Exit(1) // MPI_Abort should not return
}
