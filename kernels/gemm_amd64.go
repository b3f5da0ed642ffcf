//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// haveAsm reports whether the avo-generated AVX2/FMA kernels can run here.
var haveAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA
