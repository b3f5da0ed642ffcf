package kernels

// The blocked GEMM driver, after GotoBLAS/BLIS: for each nc-wide block of
// columns and kc-deep block of k, op(B) is packed into nr-column panels
// (zero-padded, narrow dtypes widened); for each mc-tall block of rows the
// micro-kernel sweeps the mr×nr tiles, a B panel resident in L1 for the
// whole column of tiles. Edge tiles are computed into a scratch tile and
// copied, so the kernels only ever see full tiles. mr, nr, kc and mc are
// those of the call's kernel (gemm_kernel.go).
//
// f32 A is read in place by the strided micro-kernel (rows of A for NN,
// columns for TN) rather than packed: measured on Zen5 it is as fast or
// faster on every shape of a ViT step, and packing would cost as much as
// the arithmetic when N is small (rank-16 LoRA products: 50 vs 100 GFLOP/s).
// The exception is Aᵀ with a leading dimension that is a multiple of 512
// floats: a k step of the micro-panel then jumps by a multiple of 2 KiB, so
// its kc lines fall in few cache sets and evict each other (2048³ TN,
// packed vs in place: 86 vs 68 GFLOP/s on ymm, 183 vs 157 on zmm), unless
// the block meets only a few B panels. A in any other dtype and the pure-Go
// kernel always pack A (mr-row panels).

// Packing policy for f32 A with an asm kernel: Aᵀ whose leading dimension
// is a multiple of gemmPackAStride floats is packed when a row block meets
// more than gemmPackAPanels B panels. Tests force either way with
// gemmPackAForce.
const (
	gemmPackAStride = 512
	gemmPackAPanels = 4
)

// gemmPackAForce overrides the policy: 0 none, 1 always pack, 2 never.
var gemmPackAForce = 0

// gemmArgs is one GEMM call, shared read-only by its workers.
type gemmArgs struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b           Operand
	c              []float32
	ldc            int
	kern           *gemmKernel
}

func gemm(transA, transB bool, m, n, k int, alpha float32, a, b Operand, beta float32, c []float32, ldc int, nthreads int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleC(m, n, alpha, beta, c, ldc)
		return
	}
	g := gemmArgs{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta, a: a, b: b, c: c, ldc: ldc,
		kern: kernelFor(activeISA(), n)}
	g.run(nthreads)
}

// scaleC is the k = 0 product, written as GemmRef computes it.
func scaleC(m, n int, alpha, beta float32, c []float32, ldc int) {
	z := alpha * 0
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			if beta == 0 {
				row[j] = z
			} else {
				row[j] = z + beta*row[j]
			}
		}
	}
}

// blockK splits k into equal blocks of at most kc, so the last block is
// not a sliver.
func blockK(k, kc int) int {
	nb := (k + kc - 1) / kc
	return (k + nb - 1) / nb
}

// block computes rows [i0, i1) × columns [j0, j1) of C on one goroutine.
func (g *gemmArgs) block(w *gemmWork, i0, i1, j0, j1 int) {
	kk := g.kern
	kc := blockK(g.k, kk.kc)
	for jc := j0; jc < j1; jc += gemmNC {
		nb := min(gemmNC, j1-jc)
		for pc := 0; pc < g.k; pc += kc {
			kb := min(kc, g.k-pc)
			bp := w.bBuf(kb * roundUp(nb, kk.nr))
			packB(bp, g.b, g.transB, pc, kb, jc, nb, kk.nr)
			// Later k blocks add to what the first one wrote.
			beta := g.beta
			if pc > 0 {
				beta = 1
			}
			for ic := i0; ic < i1; ic += kk.mc {
				g.macro(w, bp, ic, min(kk.mc, i1-ic), jc, nb, pc, kb, beta)
			}
		}
	}
}

// macro multiplies the mb×kb block of op(A) at (ic, pc) by the packed kb×nb
// block of op(B) into C at (ic, jc).
func (g *gemmArgs) macro(w *gemmWork, bp []float32, ic, mb, jc, nb, pc, kb int, beta float32) {
	kk := g.kern
	mr, nr := kk.mr, kk.nr
	packed := kk.isa == isaGo || !g.a.isF32() || g.packAPays(nb)
	var ap []float32
	full := mb - mb%mr // rows in full tiles
	if packed {
		ap = w.aBuf(kb * roundUp(mb, mr))
		packA(ap, g.a, g.transA, ic, mb, pc, kb, mr)
	} else if full < mb {
		// The strided kernel reads mr rows: the last, partial row panel
		// is packed (zero-padded) instead.
		ap = w.aBuf(kb * mr)
		packA(ap, g.a, g.transA, ic+full, mb-full, pc, kb, mr)
	}
	lda := g.a.Stride
	for jr := 0; jr < nb; jr += nr {
		bpan := bp[jr*kb : (jr+nr)*kb]
		nn := min(nr, nb-jr)
		for ir := 0; ir < mb; ir += mr {
			mm := min(mr, mb-ir)
			var a []float32
			rsa, csa := 1, mr
			switch {
			case packed:
				a = ap[ir*kb:]
			case mm < mr:
				a = ap
			case g.transA:
				a = g.a.F32[pc*lda+ic+ir:]
				rsa, csa = 1, lda
			default:
				a = g.a.F32[(ic+ir)*lda+pc:]
				rsa, csa = lda, 1
			}
			ci := (ic+ir)*g.ldc + jc + jr
			if mm == mr && nn == nr {
				kk.run(kb, a, rsa, csa, bpan, g.c[ci:], g.ldc, g.alpha, beta)
				continue
			}
			// Edge tile: compute the full tile aside, write the part in C.
			t := w.tile[:mr*nr]
			kk.run(kb, a, rsa, csa, bpan, t, nr, 1, 0)
			for i := 0; i < mm; i++ {
				row := g.c[ci+i*g.ldc : ci+i*g.ldc+nn]
				for j := range row {
					v := g.alpha * t[i*nr+j]
					if beta != 0 {
						v += beta * row[j]
					}
					row[j] = v
				}
			}
		}
	}
}

// packAPays applies the packing policy for f32 A with an asm kernel.
func (g *gemmArgs) packAPays(nb int) bool {
	switch gemmPackAForce {
	case 1:
		return true
	case 2:
		return false
	}
	return g.transA && g.a.Stride%gemmPackAStride == 0 && ceilDiv(nb, g.kern.nr) > gemmPackAPanels
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }
