package kernels

import "time"

// peakIters FMA-loop iterations (384 flops each) make one timed chunk of
// about 0.3 ms: long against the timer, short against preemption.
const peakIters = 1 << 16

// MeasurePeakGFLOPS measures the single-core f32 peak for at least d: an
// FMA loop on ymm registers with 12 independent accumulators (the bound the
// AVX2 GEMM kernel can approach). It returns the best rate over ~0.3 ms
// chunks, the least disturbed by other processes. Without AVX2/FMA (or in
// purego builds) it measures the scalar Go multiply-add loop instead, the
// bound of the pure-Go kernel.
func MeasurePeakGFLOPS(d time.Duration) float64 { return measurePeak(d, haveAsm) }

func measurePeak(d time.Duration, asm bool) float64 {
	run, flops := func() { fmaPeak(peakIters) }, float64(peakIters)*384
	if !asm {
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
