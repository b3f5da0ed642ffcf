package kernels

// The pure-Go kernel's register tile.
const (
	goMR = 6
	goNR = 16
)

// kernelGo is the portable micro-kernel: the 6×16 tile of gemmKernel.run from
// a packed A panel (a[p*6+i]) and a packed B panel (b[p*16+j]), walked in
// 3×2 blocks. The Go compiler schedules all multiplies of an iteration before
// the adds, so the block must leave room for its products: 6 accumulators,
// 3+2 operands and 6 products fit the 15 usable X registers without spills
// (a 2×4 block spilled and ran at half the speed). The panels stay in L1
// across the 16 passes.
func kernelGo(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	a = a[:k*goMR]
	b = b[:k*goNR]
	for i := 0; i < goMR; i += 3 {
		for j := 0; j < goNR; j += 2 {
			c00, c01, c10, c11, c20, c21 := dot3x2(k, a[i:], b[j:])
			storeGo(c[i*ldc+j:i*ldc+j+2], c00, c01, alpha, beta)
			storeGo(c[(i+1)*ldc+j:(i+1)*ldc+j+2], c10, c11, alpha, beta)
			storeGo(c[(i+2)*ldc+j:(i+2)*ldc+j+2], c20, c21, alpha, beta)
		}
	}
}

// dot3x2 returns the 3×2 block Σ_p a[p*6+i]·b[p*16+j], i < 3, j < 2,
// two k steps per iteration (fixed-size array views drop the bounds checks).
func dot3x2(k int, a, b []float32) (c00, c01, c10, c11, c20, c21 float32) {
	p := 0
	for ; p+1 < k; p += 2 {
		ap := (*[goMR + 3]float32)(a[p*goMR:])
		bp := (*[goNR + 2]float32)(b[p*goNR:])
		c00 += ap[0] * bp[0]
		c01 += ap[0] * bp[1]
		c10 += ap[1] * bp[0]
		c11 += ap[1] * bp[1]
		c20 += ap[2] * bp[0]
		c21 += ap[2] * bp[1]
		c00 += ap[goMR] * bp[goNR]
		c01 += ap[goMR] * bp[goNR+1]
		c10 += ap[goMR+1] * bp[goNR]
		c11 += ap[goMR+1] * bp[goNR+1]
		c20 += ap[goMR+2] * bp[goNR]
		c21 += ap[goMR+2] * bp[goNR+1]
	}
	if p < k {
		ap := (*[3]float32)(a[p*goMR:])
		bp := (*[2]float32)(b[p*goNR:])
		c00 += ap[0] * bp[0]
		c01 += ap[0] * bp[1]
		c10 += ap[1] * bp[0]
		c11 += ap[1] * bp[1]
		c20 += ap[2] * bp[0]
		c21 += ap[2] * bp[1]
	}
	return
}

// storeGo writes 2 results as alpha·s + beta·c, not reading c if beta == 0.
func storeGo(c []float32, s0, s1, alpha, beta float32) {
	c = c[:2]
	if beta == 0 {
		c[0], c[1] = alpha*s0, alpha*s1
		return
	}
	c[0] = alpha*s0 + beta*c[0]
	c[1] = alpha*s1 + beta*c[1]
}
