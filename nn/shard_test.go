package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/tensor"
)

// TestBatchShardMasks: a batch of 4 run as two parts of 2 (shards 0 and 1)
// draws exactly the dropout masks of the whole batch, in a Dropout and in
// attention's probability dropout, forward and backward.
func TestBatchShardMasks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	att := NewSelfAttention("att", 8, 2, true, 0.3, 7)
	randomize(t, att, rng, 0.5)
	drop := NewDropout("drop", 0.4, 3)
	for _, m := range []Layer{drop, att} {
		m.SetInputGrad(true)
		x := randT(rng, 1, 4, 5, 8)
		dy := randT(rng, 1, 4, 5, 8)
		run := func(shard int, x, dy *tensor.Tensor) ([]float32, []float32) {
			SetBatchShard(m, shard)
			SetStep(m, 11)
			y := append([]float32(nil), m.Forward(x).F32()...)
			return y, append([]float32(nil), m.Backward(dy).F32()...)
		}
		half := func(t *tensor.Tensor, i int) *tensor.Tensor {
			n := t.Len() / 2
			return tensor.FromF32(append([]float32(nil), t.F32()[i*n:(i+1)*n]...), 2, 5, 8)
		}
		y, dx := run(0, x, dy)
		y0, dx0 := run(0, half(x, 0), half(dy, 0))
		y1, dx1 := run(1, half(x, 1), half(dy, 1))
		gotY, gotDX := append(y0, y1...), append(dx0, dx1...)
		zeros := 0
		for i := range y {
			if y[i] != gotY[i] || dx[i] != gotDX[i] {
				t.Fatalf("%s [%d]: whole batch y %v dx %v, as two shards %v %v", m.Name(), i, y[i], dx[i], gotY[i], gotDX[i])
			}
			if dx[i] == 0 {
				zeros++
			}
		}
		if m == Layer(drop) && zeros == 0 {
			t.Fatal("no element dropped: the test would prove nothing")
		}
		// Another shard index draws other masks.
		y2, _ := run(1, half(x, 0), half(dy, 0))
		same := true
		for i := range y2 {
			same = same && y2[i] == y0[i]
		}
		if same {
			t.Errorf("%s: shards 0 and 1 drew the same masks", m.Name())
		}
	}
}
