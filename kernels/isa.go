package kernels

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// The kernels run on one of three instruction sets, chosen once at start:
// AVX-512 ("zmm", 16 float32 lanes, 32 vector registers) when the CPU has it,
// else AVX2+FMA ("ymm", 8 lanes), else pure Go ("go", also the only path in
// builds with the purego tag or off amd64). The GEMM micro-kernel and the
// row kernels follow the same choice. The environment variable
// GOLORA_KERNELS=zmm|ymm|go overrides it at start, SetKernelPath at run
// time; tests and benchmarks use them to run every path on one machine.

// Kernel path names, as KernelPath returns them and SetKernelPath and
// GOLORA_KERNELS take them.
const (
	PathZMM = "zmm"
	PathYMM = "ymm"
	PathGo  = "go"
)

// isa is a kernel path as a small integer, ordered by preference.
type isa int32

const (
	isaGo isa = iota
	isaYMM
	isaZMM
)

var isaNames = [...]string{isaGo: PathGo, isaYMM: PathYMM, isaZMM: PathZMM}

func (i isa) String() string { return isaNames[i] }

// supported reports whether this CPU and build can run i.
func (i isa) supported() bool {
	switch i {
	case isaZMM:
		return haveZMM
	case isaYMM:
		return haveYMM
	}
	return true
}

// bestISA is the fastest path this CPU and build can run.
func bestISA() isa {
	for i := isaZMM; i > isaGo; i-- {
		if i.supported() {
			return i
		}
	}
	return isaGo
}

// curISA is the active path. Every GEMM and row kernel call reads it once,
// so a concurrent SetKernelPath never mixes two paths in one call.
var curISA atomic.Int32

func activeISA() isa { return isa(curISA.Load()) }

// PathEnv is the environment variable that picks the kernel path at start
// ("zmm", "ymm" or "go"; unset or empty: the fastest this CPU has). A value
// this CPU or build cannot run is reported on stderr and ignored.
const PathEnv = "GOLORA_KERNELS"

func init() {
	curISA.Store(int32(bestISA()))
	if v := os.Getenv(PathEnv); v != "" {
		if _, err := SetKernelPath(v); err != nil {
			// A bad setting must not stop the program; say so on one line.
			fmt.Fprintf(os.Stderr, "golora: %s=%s ignored: %v; using %s\n", PathEnv, v, err, activeISA())
		}
	}
}

// KernelPath returns the active kernel path: "zmm", "ymm" or "go".
func KernelPath() string { return activeISA().String() }

// KernelPaths lists the paths this CPU and build can run, fastest first.
func KernelPaths() []string {
	var out []string
	for i := isaZMM; i >= isaGo; i-- {
		if i.supported() {
			out = append(out, i.String())
		}
	}
	return out
}

// SetKernelPath switches the GEMM and row kernels to path p ("zmm", "ymm",
// "go", or "" for the fastest this CPU has) and returns the previous path.
// It fails, changing nothing, when p is unknown or this CPU or build cannot
// run it. Calls already running finish on the path they started with.
func SetKernelPath(p string) (prev string, err error) {
	want := bestISA()
	if p != "" {
		i, ok := parseISA(p)
		if !ok {
			return KernelPath(), fmt.Errorf("kernels: unknown kernel path %q (want zmm, ymm or go)", p)
		}
		if !i.supported() {
			return KernelPath(), fmt.Errorf("kernels: kernel path %s needs %s, which this CPU or build lacks (available: %s)",
				i, i.needs(), strings.Join(KernelPaths(), ", "))
		}
		want = i
	}
	return isa(curISA.Swap(int32(want))).String(), nil
}

func parseISA(p string) (isa, bool) {
	for i, n := range isaNames {
		if strings.EqualFold(p, n) {
			return isa(i), true
		}
	}
	return isaGo, false
}

// needs names what a path requires of the CPU and build.
func (i isa) needs() string {
	switch i {
	case isaZMM:
		return "amd64 with AVX-512 F/DQ/BW/VL and no purego tag"
	case isaYMM:
		return "amd64 with AVX2 and FMA and no purego tag"
	}
	return "nothing"
}
