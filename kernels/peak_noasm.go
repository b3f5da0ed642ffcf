//go:build !amd64 || purego

package kernels

// The FMA loops do not exist without assembly; MeasurePeakGFLOPS then
// measures the scalar Go loop instead, so these are never called.

func fmaPeak(n int) { panic("kernels: fmaPeak without assembly") }

func fmaPeakAVX512(n int) { panic("kernels: fmaPeakAVX512 without assembly") }
