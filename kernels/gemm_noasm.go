//go:build !amd64 || purego

package kernels

// haveAsm is false: no assembly on this architecture or in purego builds.
const haveAsm = false

// The assembly entry points do not exist here; useAsm is always false, so
// these are never called.

func gemmKernelPacked(k int, a, b, c *float32, ldc int, alpha, beta float32) {
	panic("kernels: gemmKernelPacked without assembly")
}

func gemmKernelStrided(k int, a *float32, rsa, csa int, b, c *float32, ldc int, alpha, beta float32) {
	panic("kernels: gemmKernelStrided without assembly")
}
