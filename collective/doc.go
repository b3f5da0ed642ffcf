// Package collective is how the ranks of a data-parallel job talk: a small
// Comm interface with the collective operations ZeRO-style training needs
// (all-reduce, reduce-scatter, all-gather, broadcast, barrier), and three
// implementations of it:
//
//   - Local, a group of one rank, where every operation is a no-op: the
//     default, so single-process training runs the same code.
//   - NewGroup / Run, n ranks as goroutines of one process, reducing in
//     rank order (exact and deterministic), always built: tests run
//     data-parallel training without MPI.
//   - Open MPI through cgo, built only with -tags mpi (the default build
//     stays pure Go): Init returns MPI_COMM_WORLD when the process was
//     started by mpirun.
//
// All ranks must call the same operations in the same order with the same
// lengths; the in-process group checks this and fails loudly. A rank that
// fails calls Abort, which stops every rank: the in-process group cancels
// every pending and later operation with an error wrapping ErrAborted, MPI
// calls MPI_Abort, which makes mpirun kill the job and exit non-zero.
//
// Count wraps a Comm and counts calls, payload bytes and the bytes a rank
// sends under the ring algorithms (RingBytes), the figure golora's planner
// predicts per training step.
package collective
