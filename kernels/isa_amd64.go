//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// haveYMM reports whether the avo-generated AVX2/FMA kernels can run here,
// haveZMM the AVX-512 ones (F for the arithmetic, DQ for the float logic
// and mask moves, BW and VL as every AVX-512 CPU since Skylake-SP has them;
// x/sys/cpu also checks that the OS saves the zmm state).
var (
	haveYMM = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	haveZMM = haveYMM && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL
)
