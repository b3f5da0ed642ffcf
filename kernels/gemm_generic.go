package kernels

// gemm is the portable blocked implementation; the fast path replaces it.
// TEMPORARY: a simple cache-friendly loop until the packed AVX2 path lands.
func gemm(transA, transB bool, m, n, k int, alpha float32, a, b Operand, beta float32, c []float32, ldc int, nthreads int) {
	run := func(lo, hi int) {
		row := make([]float32, k)
		for i := lo; i < hi; i++ {
			for p := 0; p < k; p++ {
				if transA {
					row[p] = a.at(p, i)
				} else {
					row[p] = a.at(i, p)
				}
			}
			ci := c[i*ldc : i*ldc+n]
			if beta == 0 {
				for j := range ci {
					ci[j] = 0
				}
			} else if beta != 1 {
				for j := range ci {
					ci[j] *= beta
				}
			}
			for j := 0; j < n; j++ {
				var s float32
				for p := 0; p < k; p++ {
					if transB {
						s += row[p] * b.at(j, p)
					} else {
						s += row[p] * b.at(p, j)
					}
				}
				ci[j] += alpha * s
			}
		}
	}
	if nthreads <= 1 {
		run(0, m)
		return
	}
	ParallelFor(m, run)
}
