//go:build !mpi

package collective

// MPIBuilt reports whether this binary was built with MPI (-tags mpi).
const MPIBuilt = false

// Init returns the Comm of this process: Local, unless a launcher started
// it as one of several ranks, which a build without MPI cannot join (an
// error saying so).
func Init() (Comm, error) {
	if r, s, ok := launched(); ok && s > 1 {
		return nil, errNoMPI(r, s)
	}
	return Local{}, nil
}

// Finalize ends MPI when Init started it; without MPI it does nothing.
func Finalize() error { return nil }
