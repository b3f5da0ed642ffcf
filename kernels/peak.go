package kernels

import "time"

// peakIters FMA-loop iterations (384 flops each on ymm, 768 on zmm) make
// one timed chunk of about 0.1-0.3 ms: long against the timer, short against
// preemption.
const peakIters = 1 << 16

// MeasurePeakGFLOPS measures the single-core f32 peak of the active kernel
// path (KernelPath) for at least d: an FMA loop with 12 independent
// accumulators on zmm registers for "zmm", on ymm for "ymm" (the bounds the
// AVX-512 and AVX2 GEMM kernels can approach), the scalar Go multiply-add
// loop for "go", the bound of the pure-Go kernel. It returns the best rate
// over ~0.3 ms chunks, the least disturbed by other processes.
func MeasurePeakGFLOPS(d time.Duration) float64 { return measurePeak(d, activeISA()) }

func measurePeak(d time.Duration, path isa) float64 {
	var run func()
	var flops float64
	switch path {
	case isaZMM:
		run, flops = func() { fmaPeakAVX512(peakIters) }, float64(peakIters)*768
	case isaYMM:
		run, flops = func() { fmaPeak(peakIters) }, float64(peakIters)*384
	default:
		run, flops = func() { peakSink = peakGo(peakIters) }, float64(peakIters)*16
	}
	best := 0.0
	for end := time.Now().Add(d); ; {
		t0 := time.Now()
		run()
		if dt := time.Since(t0).Seconds(); dt > 0 {
			best = max(best, flops/dt/1e9)
		}
		if time.Now().After(end) {
			return best
		}
	}
}

// peakSink keeps peakGo's result alive.
var peakSink float32

// peakGo runs n iterations of 8 independent multiply-adds (16 flops), the
// inner loop of kernelGo in scalar Go.
func peakGo(n int) float32 {
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	var buf [8]float32
	for i := range buf {
		buf[i] = float32(i) * 0.5
	}
	for i := 0; i < n; i++ {
		v := buf[i&7]
		s0 += v * 1.0001
		s1 += v * 1.0002
		s2 += v * 1.0003
		s3 += v * 1.0004
		s4 += v * 1.0005
		s5 += v * 1.0006
		s6 += v * 1.0007
		s7 += v * 1.0008
	}
	return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
}
