package kernels

// Sums and dot products over one row. A single accumulator chains every add
// on the previous one (3-4 cycles each); four independent accumulators let
// the core overlap them, and the reslicing up front proves every index in
// range so the loops carry no bounds checks. The LayerNorm statistics sum in
// float64 (as fast here, scalar): a float32 mean of values far from zero
// would otherwise lose digits that the normalised output needs.

// sumRow returns Σ x[j] in float64.
func sumRow(x []float32) float64 {
	var s0, s1, s2, s3 float64
	j := 0
	for ; j+4 <= len(x); j += 4 {
		v := x[j : j+4 : j+4]
		s0 += float64(v[0])
		s1 += float64(v[1])
		s2 += float64(v[2])
		s3 += float64(v[3])
	}
	for ; j < len(x); j++ {
		s0 += float64(x[j])
	}
	return (s0 + s1) + (s2 + s3)
}

// sqDevRow returns Σ (x[j] − m)² in float64.
func sqDevRow(x []float32, m float32) float64 {
	var s0, s1, s2, s3 float64
	j := 0
	for ; j+4 <= len(x); j += 4 {
		v := x[j : j+4 : j+4]
		d0, d1, d2, d3 := float64(v[0]-m), float64(v[1]-m), float64(v[2]-m), float64(v[3]-m)
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; j < len(x); j++ {
		d := float64(x[j] - m)
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// dotRow returns Σ a[j]·b[j] over len(a); b must be at least as long.
func dotRow(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	j := 0
	for ; j+4 <= len(a); j += 4 {
		u, v := a[j:j+4:j+4], b[j:j+4:j+4]
		s0 += u[0] * v[0]
		s1 += u[1] * v[1]
		s2 += u[2] * v[2]
		s3 += u[3] * v[3]
	}
	for ; j < len(a); j++ {
		s0 += a[j] * b[j]
	}
	return (s0 + s1) + (s2 + s3)
}
