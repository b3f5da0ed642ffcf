package kernels

// Dropout draws its mask from a counter-based generator: element i of a call
// with (seed, offset) is kept iff hash(seed, offset+i) ≥ p·2³². The mask is
// never stored: backward regenerates it from the same (seed, offset), which
// saves the memory and time PyTorch spends on mask tensors.

// DropoutKeep reports whether element idx survives dropout with probability p
// under seed.
func DropoutKeep(seed, idx uint64, p float32) bool {
	return uint32(mix64(seed^mix64(idx))>>32) >= uint32(float64(p)*(1<<32))
}

// mix64 is the splitmix64 finaliser: a bijective, well-mixing hash.
func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// DropoutForward sets y = x·keep/(1−p) (inverted dropout, as torch). p must be
// in [0, 1); p == 0 copies. y may alias x.
func DropoutForward(y, x []float32, p float32, seed, offset uint64) {
	checkLen("DropoutForward", "y", y, len(x))
	if p == 0 {
		copy(y, x)
		return
	}
	s := 1 / (1 - p)
	ParallelFor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if DropoutKeep(seed, offset+uint64(i), p) {
				y[i] = x[i] * s
			} else {
				y[i] = 0
			}
		}
	})
}

// DropoutBackward adds dy·keep/(1−p) into dx, regenerating the forward mask.
func DropoutBackward(dx, dy []float32, p float32, seed, offset uint64) {
	checkLen("DropoutBackward", "dx", dx, len(dy))
	s := 1 / (1 - p)
	ParallelFor(len(dy), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if p == 0 {
				dx[i] += dy[i]
			} else if DropoutKeep(seed, offset+uint64(i), p) {
				dx[i] += dy[i] * s
			}
		}
	})
}
