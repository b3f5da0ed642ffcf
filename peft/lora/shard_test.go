package lora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// TestBatchShardDropout: a batch run as two halves, shards 0 and 1 of the
// global batch (data parallelism), draws the LoRA dropout masks of the
// whole batch, forward and backward, with and without DoRA.
func TestBatchShardDropout(t *testing.T) {
	for _, dora := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(3, 4))
		const n, in, out, r = 6, 9, 7, 3
		base := nn.NewLinear("blk.query", in, out, true)
		randFill(rng, base.Weight.Value.F32(), 0.5)
		l := newLinear(base)
		mustAdd(t, l, "default", adapterSpec{r: r, alpha: 6, scale: 2, dropout: 0.4, init: InitRandom, dora: dora}, rng)
		l.active = "default"
		l.SetTraining(true)
		l.SetInputGrad(true)
		x := tensor.New(tensor.F32, n, in)
		dy := tensor.New(tensor.F32, n, out)
		randFill(rng, x.F32(), 1)
		randFill(rng, dy.F32(), 1)
		run := func(shard, lo, hi int) (y, dx []float32) {
			nn.SetBatchShard(l, shard)
			l.SetStep(7)
			xs := tensor.FromF32(append([]float32(nil), x.F32()[lo*in:hi*in]...), hi-lo, in)
			y = append(y, l.Forward(xs).F32()...)
			dys := tensor.FromF32(append([]float32(nil), dy.F32()[lo*out:hi*out]...), hi-lo, out)
			return y, append(dx, l.Backward(dys).F32()...)
		}
		y, dx := run(0, 0, n)
		y0, dx0 := run(0, 0, n/2)
		y1, dx1 := run(1, n/2, n)
		gy, gdx := append(y0, y1...), append(dx0, dx1...)
		for i := range y {
			if math.Abs(float64(y[i]-gy[i])) > 1e-6 {
				t.Fatalf("DoRA %v: y[%d] whole batch %v, as two shards %v", dora, i, y[i], gy[i])
			}
		}
		for i := range dx {
			if math.Abs(float64(dx[i]-gdx[i])) > 1e-6 {
				t.Fatalf("DoRA %v: dx[%d] whole batch %v, as two shards %v", dora, i, dx[i], gdx[i])
			}
		}
	}
}
