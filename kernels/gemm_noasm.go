//go:build !amd64 || purego

package kernels

// No assembly on this architecture or in purego builds: only the pure-Go
// path is supported.
const (
	haveYMM = false
	haveZMM = false
)

// The assembly entry points do not exist here; the active path is always
// "go", so these are never called.

func gemmKernelPacked(k int, a, b, c *float32, ldc int, alpha, beta float32) {
	panic("kernels: gemmKernelPacked without assembly")
}

func gemmKernelStrided(k int, a *float32, rsa, csa int, b, c *float32, ldc int, alpha, beta float32) {
	panic("kernels: gemmKernelStrided without assembly")
}

func gemmKernelPackedAVX512(k int, a, b, c *float32, ldc int, alpha, beta float32) {
	panic("kernels: gemmKernelPackedAVX512 without assembly")
}

func gemmKernelStridedAVX512(k int, a *float32, rsa, csa int, b, c *float32, ldc int, alpha, beta float32) {
	panic("kernels: gemmKernelStridedAVX512 without assembly")
}

func gemmKernelPackedAVX512N(k int, a, b, c *float32, ldc int, alpha, beta float32) {
	panic("kernels: gemmKernelPackedAVX512N without assembly")
}

func gemmKernelStridedAVX512N(k int, a *float32, rsa, csa int, b, c *float32, ldc int, alpha, beta float32) {
	panic("kernels: gemmKernelStridedAVX512N without assembly")
}
