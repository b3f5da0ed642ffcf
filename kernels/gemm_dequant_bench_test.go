package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/golora/golora/tensor"
)

// BenchmarkGemmQuantB times a frozen Linear's two products with its weight
// W [out, in] stored in each dtype: the forward x·Wᵀ (NT) and the input
// gradient dY·W (NN), on ViT-Tiny's shapes (M = 8 images × 197 tokens),
// one thread. The storages run interleaved, one product each in turn, and
// each reports its best time as a ratio to f32's in the same run (x_f32),
// so that load on a shared machine affects all alike, e.g.
//
//	go test ./kernels -run '^$' -bench 'GemmQuantB' -benchtime 200x
func BenchmarkGemmQuantB(b *testing.B) {
	storages := append([]quantStorage{{"f32", tensor.F32, false}, {"bf16", tensor.BF16, false}}, quantStorages...)
	for _, s := range [][3]int{{1576, 192, 192}, {1576, 192, 768}, {1576, 768, 192}, {1088, 96, 96}, {1088, 96, 384}, {1088, 384, 96}, {136, 384, 96}} {
		m, in, out := s[0], s[1], s[2]
		for _, tr := range []string{"NT", "NN"} {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", m, in, out, tr), func(b *testing.B) {
				old := SetThreads(1)
				defer SetThreads(old)
				rng := rand.New(rand.NewPCG(1, 1))
				k, n := in, out // NT: y[m,out] = x[m,in]·Wᵀ
				if tr == "NN" { // dx[m,in] = dy[m,out]·W
					k, n = out, in
				}
				a, _ := randOperand(rng, m, k, 0, false)
				c := make([]float32, m*n)
				ws := make([]Operand, len(storages))
				best := make([]time.Duration, len(storages))
				for i, st := range storages {
					ws[i], _, _ = quantOperand(rng, st, out, in)
				}
				for b.Loop() {
					for i, w := range ws {
						t := time.Now()
						Gemm(false, tr == "NT", m, n, k, 1, a, w, 0, c, n)
						if d := time.Since(t); best[i] == 0 || d < best[i] {
							best[i] = d
						}
					}
				}
				b.ReportMetric(2*float64(m)*float64(n)*float64(k)/best[0].Seconds()/1e9, "f32_GFLOP/s")
				for i, st := range storages[1:] {
					b.ReportMetric(float64(best[i+1])/float64(best[0]), st.name+"_x_f32")
				}
			})
		}
	}
}
