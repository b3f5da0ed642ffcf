package collective

import (
	"fmt"
	"os"
	"strconv"
)

// launched returns the rank and size a launcher such as mpirun gave this
// process through the environment (Open MPI's OMPI_COMM_WORLD_*, the PMI
// variables of MPICH and Slurm), and whether it found any.
func launched() (rank, size int, ok bool) {
	for _, v := range [][2]string{
		{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
		{"PMI_RANK", "PMI_SIZE"},
		{"PMIX_RANK", "PMIX_SIZE"},
	} {
		s, err := strconv.Atoi(os.Getenv(v[1]))
		if err != nil || s < 1 {
			continue
		}
		r, _ := strconv.Atoi(os.Getenv(v[0]))
		return r, s, true
	}
	return 0, 1, false
}

// errNoMPI is the error of a build without MPI started by a launcher with
// several ranks: each would otherwise train alone on the same output.
func errNoMPI(rank, size int) error {
	return fmt.Errorf("collective: this process is rank %d of %d started by mpirun, but golora was built without MPI support; build it with -tags mpi (needs Open MPI's libopenmpi-dev)", rank, size)
}

// LocalSize is how many ranks of this job the launcher started on this
// machine (Open MPI's OMPI_COMM_WORLD_LOCAL_SIZE, MPICH's
// MPI_LOCALNRANKS), 1 when unknown: they share its cores.
func LocalSize() int {
	for _, v := range []string{"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"} {
		if n, err := strconv.Atoi(os.Getenv(v)); err == nil && n >= 1 {
			return n
		}
	}
	return 1
}
