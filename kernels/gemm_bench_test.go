package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShapes are the products of a ViT training step (M = batch·tokens):
// attention/MLP projections, LoRA rank-16 down and up projections, and two
// square references.
var benchShapes = [][3]int{ // M, K, N
	{1576, 192, 192}, {1576, 192, 768}, {1576, 768, 192}, {512, 1024, 1024},
	{2048, 2048, 2048}, {1576, 192, 16}, {1576, 16, 192},
}

// BenchmarkGemm reports GFLOP/s of C = op(A)·op(B) per shape, transpose
// variant and thread count, e.g.
//
//	go test ./kernels -run '^$' -bench 'Gemm/512x1024x1024/NN/t1'
func BenchmarkGemm(b *testing.B) {
	for _, s := range benchShapes {
		for _, tr := range []string{"NN", "NT", "TN"} {
			for _, threads := range []int{1, 2} {
				if threads == 2 && s[0] == 1576 && s[1]+s[2] > 400 || threads == 2 && s[0] == 512 {
					continue // 2 threads: the square, the projection and the rank-16 shapes
				}
				name := fmt.Sprintf("%dx%dx%d/%s/t%d", s[0], s[1], s[2], tr, threads)
				b.Run(name, func(b *testing.B) { benchGemm(b, s[0], s[1], s[2], tr, threads, false) })
			}
		}
	}
}

// BenchmarkGemmPath compares the kernel paths on the same products, e.g.
//
//	go test ./kernels -run '^$' -bench 'GemmPath/512x1024x1024/NN/t1' -count 5
//
// reports zmm, ymm (and go) side by side. The zmm/ymm ratio of one such
// run is the figure to quote: absolute rates move with the machine's load.
func BenchmarkGemmPath(b *testing.B) {
	for _, s := range benchShapes {
		for _, tr := range []string{"NN", "NT", "TN"} {
			for _, threads := range []int{1, 2} {
				if threads == 2 && s[0] != 2048 {
					continue
				}
				for _, p := range paths() {
					if p == isaGo && s[0]*s[1]*s[2] > 1<<30 {
						continue
					}
					name := fmt.Sprintf("%dx%dx%d/%s/t%d/%s", s[0], s[1], s[2], tr, threads, p)
					b.Run(name, func(b *testing.B) {
						usePath(b, p)
						benchGemm(b, s[0], s[1], s[2], tr, threads, false)
					})
				}
			}
		}
	}
}

// BenchmarkGemmBF16B is the frozen-weight case: B stored as bf16.
func BenchmarkGemmBF16B(b *testing.B) {
	for _, s := range benchShapes[:4] {
		b.Run(fmt.Sprintf("%dx%dx%d/NT/t1", s[0], s[1], s[2]), func(b *testing.B) { benchGemm(b, s[0], s[1], s[2], "NT", 1, true) })
	}
}

// BenchmarkGemmPureGo measures the portable kernel on one thread.
func BenchmarkGemmPureGo(b *testing.B) {
	usePath(b, isaGo)
	benchGemm(b, 512, 1024, 1024, "NN", 1, false)
}

func BenchmarkMeasurePeak(b *testing.B) {
	var p float64
	for b.Loop() {
		p = MeasurePeakGFLOPS(0)
	}
	b.ReportMetric(p, "GFLOP/s")
}

func benchGemm(b *testing.B, m, k, n int, tr string, threads int, bf16B bool) {
	old := SetThreads(threads)
	defer SetThreads(old)
	transA, transB := tr[0] == 'T', tr[1] == 'T'
	rng := rand.New(rand.NewPCG(1, 1))
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	a, _ := randOperand(rng, ar, ac, 0, false)
	bo, _ := randOperand(rng, br, bc, 0, bf16B)
	c := make([]float32, m*n)
	for b.Loop() {
		Gemm(transA, transB, m, n, k, 1, a, bo, 0, c, n)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
