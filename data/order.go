package data

// Order returns the visiting order of n examples for an epoch: a
// permutation that depends only on (n, seed, epoch). It uses its own
// generator (splitmix64 and Fisher-Yates), not math/rand, so a run resumed
// with another Go version visits the same examples.
func Order(n int, seed uint64, epoch int) []int {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	r := splitmix{state: mix64(seed) ^ mix64(uint64(epoch)^0x5851f42d4c957f2d)}
	for i := n - 1; i > 0; i-- {
		j := r.below(uint64(i + 1))
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm
}

// splitmix is the splitmix64 generator: tiny, fast, and fixed forever.
type splitmix struct{ state uint64 }

func (s *splitmix) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	return mix64raw(s.state)
}

// below returns a uniform integer in [0, n) by rejection, without the
// modulo bias.
func (s *splitmix) below(n uint64) int {
	limit := -n % n // 2⁶⁴ mod n: values below it would be over-represented
	for {
		v := s.next()
		if v >= limit {
			return int(v % n)
		}
	}
}

// mix64 hashes a seed into a generator state.
func mix64(z uint64) uint64 { return mix64raw(z + 0x9e3779b97f4a7c15) }

// mix64raw is the splitmix64 finaliser.
func mix64raw(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
