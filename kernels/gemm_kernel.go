package kernels

// The GEMM micro-kernels (AVX2/FMA and AVX-512) and the FMA peak loops are
// generated with avo by the nested module internal/asmgen (its own go.mod
// keeps avo out of golora's dependencies).
//go:generate go run -C internal/asmgen . -dir ../..

// gemmKernel is one micro-kernel with the blocking the driver uses around
// it. Packing, panel widths, edge tiles and the thread split all follow the
// kernel of the call, so the tile sizes are per kernel, not constants.
type gemmKernel struct {
	name   string
	isa    isa
	narrow bool // the AVX-512 16-column kernel
	mr, nr int  // register tile: mr rows × nr columns of C
	// Cache blocking: a kc×nr B panel stays in L1 for a column of tiles,
	// an mc×kc block of A in L2 (mc is a multiple of mr).
	kc, mc int
}

// gemmNC is the column block: the packed kc×nc block of B (2 MiB at kc=256)
// stays in the L2/L3 while every row block of A passes over it.
const gemmNC = 2048

// The kernels. The pure-Go and AVX2 tiles are 6×16 (12 ymm accumulators).
// The AVX-512 tile was chosen by measuring, on one Zen5 core, 6×32, 8×32,
// 10×32, 12×32, 14×32, 6×48 and 8×48 tiles (A broadcast into a register or
// by the FMA's embedded broadcast, which was 10-25 % slower everywhere),
// kc 128-384 and mc 144-576, on the products of a ViT step and on 512×1024²
// and 2048³: all 32- and 48-wide tiles reach 190-205 GFLOP/s (of a 225
// peak) on the 1576-row products, but on the large ones tiles of 12 and 14
// rows fall to 150-160 while 6×32 and 8×32 keep 170-190 (their A micro-panel
// and the 32 KiB B panel fit the 48 KiB L1 together, and a k step touches
// fewer rows of A). 8×32 with kc 256, mc 288 was the best or within noise
// of it on every shape. A 32-wide tile would compute half zeros on a
// 16-column product (the rank-16 LoRA down-projection), so products at most
// 16 wide use a 16×16 AVX-512 tile (2x the 8×32 tile there; 12×16 and 24×16
// were alike).
var (
	kernelGoTile = gemmKernel{name: "go 6x16", isa: isaGo, mr: goMR, nr: goNR, kc: 256, mc: 144}
	kernelYMM    = gemmKernel{name: "ymm 6x16", isa: isaYMM, mr: 6, nr: 16, kc: 256, mc: 144}
	kernelZMM    = gemmKernel{name: "zmm 8x32", isa: isaZMM, mr: zmmMR, nr: 32, kc: 256, mc: 36 * zmmMR}
	kernelZMMN   = gemmKernel{name: "zmm 16x16", isa: isaZMM, narrow: true, mr: zmmNarrowMR, nr: 16, kc: 256, mc: 9 * zmmNarrowMR}
)

const (
	zmmMR       = 8
	zmmNarrowMR = 16
)

// gemmTileMax bounds mr·nr over the kernels (the edge-tile scratch).
const gemmTileMax = 16 * 48

// kernelFor returns the micro-kernel path i uses for a product n columns
// wide.
func kernelFor(i isa, n int) *gemmKernel {
	switch i {
	case isaZMM:
		if n <= 16 {
			return &kernelZMMN
		}
		return &kernelZMM
	case isaYMM:
		return &kernelYMM
	}
	return &kernelGoTile
}

// run computes one full mr×nr tile
//
//	c[i*ldc+j] = alpha·Σ_p A(i,p)·bp[p*nr+j] + beta·c[i*ldc+j]
//
// with A(i, p) = a[i*rsa+p*csa] and bp a packed B panel; c is not read when
// beta == 0. The pure-Go kernel only takes packed A (rsa=1, csa=mr): the
// driver always packs A for it.
func (kk *gemmKernel) run(k int, a []float32, rsa, csa int, bp []float32, c []float32, ldc int, alpha, beta float32) {
	packed := rsa == 1 && csa == kk.mr
	switch {
	case kk.isa == isaZMM && kk.narrow && packed:
		gemmKernelPackedAVX512N(k, &a[0], &bp[0], &c[0], ldc, alpha, beta)
	case kk.isa == isaZMM && kk.narrow:
		gemmKernelStridedAVX512N(k, &a[0], rsa, csa, &bp[0], &c[0], ldc, alpha, beta)
	case kk.isa == isaZMM && packed:
		gemmKernelPackedAVX512(k, &a[0], &bp[0], &c[0], ldc, alpha, beta)
	case kk.isa == isaZMM:
		gemmKernelStridedAVX512(k, &a[0], rsa, csa, &bp[0], &c[0], ldc, alpha, beta)
	case kk.isa == isaYMM && packed:
		gemmKernelPacked(k, &a[0], &bp[0], &c[0], ldc, alpha, beta)
	case kk.isa == isaYMM:
		gemmKernelStrided(k, &a[0], rsa, csa, &bp[0], &c[0], ldc, alpha, beta)
	default:
		kernelGo(k, a, bp, c, ldc, alpha, beta)
	}
}
