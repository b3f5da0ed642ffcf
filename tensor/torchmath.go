package tensor

import "math"

// Two torch 1.13 CPU (x86-64, AVX2 build) reductions and ranges, emulated
// in their exact f32 order, so that the tables and statistics bitsandbytes
// computes with torch (create_dynamic_map, absmax.mean()) come out bit for
// bit. testdata/gen_quant.py checks them against the real torch.

// torchVec is the lane count of torch's AVX2 Vectorized<float>.
const torchVec = 8

// linspace32 is torch.linspace(start, end, steps, dtype=float32): step =
// (end-start)/(steps-1) in f32; element i is start + step·i below steps/2
// and end - step·(steps-1-i) from there, each a fused multiply-add (the
// compiler contracts the scalar expression). Runs of two 8-lane vectors
// take that value at the vector's first index as a base and add j·step
// (j < 8) to it, rounded twice.
func linspace32(start, end float32, steps int) []float32 {
	out := make([]float32, steps)
	if steps == 1 {
		out[0] = start
		return out
	}
	step := (end - start) / float32(steps-1)
	half := steps / 2
	at := func(i int) float32 { // the scalar path, one rounding
		if i < half {
			return float32(math.FMA(float64(step), float64(i), float64(start)))
		}
		return float32(math.FMA(-float64(step), float64(steps-i-1), float64(end)))
	}
	i := 0
	for ; i+2*torchVec <= steps; i += 2 * torchVec {
		for v := i; v < i+2*torchVec; v += torchVec {
			base := at(v)
			for j := 0; j < torchVec; j++ {
				p := float32(float32(j) * step) // rounded: no fused multiply-add here
				out[v+j] = base + p
			}
		}
	}
	for ; i < steps; i++ {
		out[i] = at(i)
	}
	return out
}

// torchSum32 is x.sum() of a contiguous f32 vector as torch's cascade_sum
// computes it on one thread: with at least 8 values, 8-lane vector
// accumulators over groups of 4 vectors (with torch's 4-level cascade once
// there are 16 groups or more), the leftover vectors added to the first
// accumulator, the four accumulators folded, then the scalar tail summed
// in order and the 8 lanes added to it in order. Fewer than 8 values are
// summed in order (in groups of 4 accumulators, folded).
func torchSum32(x []float32) float32 {
	if len(x) < torchVec {
		acc := rowSum32(len(x), func(i int, dst []float32) { dst[0] = x[i] }, 1)
		return acc[0]
	}
	nv := len(x) / torchVec
	lanes := rowSum32(nv, func(i int, dst []float32) { copy(dst, x[i*torchVec:(i+1)*torchVec]) }, torchVec)
	var s float32
	for _, v := range x[nv*torchVec:] {
		s += v
	}
	for _, v := range lanes {
		s += v
	}
	return s
}

// rowSum32 is torch's row_sum over size items of width lanes: load(i, dst)
// writes item i. It returns the lane-wise sum in torch's order.
func rowSum32(size int, load func(i int, dst []float32), lanes int) []float32 {
	const ilp, levels = 4, 4
	sizeILP := size / ilp
	levelPower := max(4, ceilLog2(sizeILP)/levels)
	levelStep := 1 << levelPower
	levelMask := levelStep - 1
	var acc [levels][ilp][]float32
	for l := range acc {
		for k := range acc[l] {
			acc[l][k] = make([]float32, lanes)
		}
	}
	item := make([]float32, lanes)
	addRow := func(i int) { // acc[0][k] += item ilp·i + k
		for k := 0; k < ilp; k++ {
			load(i*ilp+k, item)
			for l := range item {
				acc[0][k][l] += item[l]
			}
		}
	}
	i := 0
	for i+levelStep <= sizeILP {
		for j := 0; j < levelStep; j++ {
			addRow(i)
			i++
		}
		for j := 1; j < levels; j++ {
			for k := 0; k < ilp; k++ {
				for l := range item {
					acc[j][k][l] += acc[j-1][k][l]
					acc[j-1][k][l] = 0
				}
			}
			if i&(levelMask<<(j*levelPower)) != 0 {
				break
			}
		}
	}
	for ; i < sizeILP; i++ {
		addRow(i)
	}
	for j := 1; j < levels; j++ {
		for k := 0; k < ilp; k++ {
			for l := range item {
				acc[0][k][l] += acc[j][k][l]
			}
		}
	}
	p := acc[0]
	for i := sizeILP * ilp; i < size; i++ {
		load(i, item)
		for l := range item {
			p[0][l] += item[l]
		}
	}
	for k := 1; k < ilp; k++ {
		for l := range item {
			p[0][l] += p[k][l]
		}
	}
	return p[0]
}

// ceilLog2 is c10's CeilLog2: the smallest e with 2^e >= x, and 1 for x <= 2.
func ceilLog2(x int) int {
	e := 1
	for 1<<e < x {
		e++
	}
	return e
}
