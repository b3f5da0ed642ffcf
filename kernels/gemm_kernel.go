package kernels

// The AVX2/FMA micro-kernels and the FMA peak loop are generated with avo by
// the nested module internal/asmgen (its own go.mod keeps avo out of
// golora's dependencies).
//go:generate go run -C internal/asmgen . -dir ../..

// The register tile of the micro-kernel: mr rows × nr columns of C.
const (
	gemmMR = 6
	gemmNR = 16
)

// useAsm selects the assembly micro-kernels. It starts as haveAsm (amd64
// with AVX2 and FMA, not built with the purego tag); tests switch it off to
// cover the pure-Go kernel in the same run.
var useAsm = haveAsm

// microKernel computes one full gemmMR×gemmNR tile
//
//	c[i*ldc+j] = alpha·Σ_p A(i,p)·bp[p*gemmNR+j] + beta·c[i*ldc+j]
//
// with A(i, p) = a[i*rsa+p*csa] and bp a packed B panel; c is not read when
// beta == 0. The pure-Go kernel only takes packed A (rsa=1, csa=gemmMR):
// the driver always packs A when useAsm is false.
func microKernel(k int, a []float32, rsa, csa int, bp []float32, c []float32, ldc int, alpha, beta float32) {
	if useAsm {
		if rsa == 1 && csa == gemmMR {
			gemmKernelPacked(k, &a[0], &bp[0], &c[0], ldc, alpha, beta)
		} else {
			gemmKernelStrided(k, &a[0], rsa, csa, &bp[0], &c[0], ldc, alpha, beta)
		}
		return
	}
	kernelGo(k, a, bp, c, ldc, alpha, beta)
}
