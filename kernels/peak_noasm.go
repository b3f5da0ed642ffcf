//go:build !amd64 || purego

package kernels

// fmaPeak does not exist without assembly; MeasurePeakGFLOPS then measures
// the scalar Go loop instead, so this is never called.
func fmaPeak(n int) { panic("kernels: fmaPeak without assembly") }
