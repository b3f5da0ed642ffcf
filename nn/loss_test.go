package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/golora/golora/tensor"
)

func TestCrossEntropyLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const rows, cols = 5, 7
	logits := randT(rng, 2, rows, cols)
	targets := []int32{3, IgnoreIndex, 0, 6, IgnoreIndex}
	var c CrossEntropyLoss
	loss, err := c.Forward(logits, targets)
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for r, tg := range targets {
		if tg == IgnoreIndex {
			continue
		}
		row := logits.F32()[r*cols : (r+1)*cols]
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v))
		}
		want += math.Log(s) - float64(row[tg])
	}
	want /= 3
	if c.Count() != 3 || math.Abs(loss-want) > 1e-6*math.Abs(want) {
		t.Fatalf("loss %v over %d rows, want %v over 3", loss, c.Count(), want)
	}
	// The loss is the scalar: project with 1.
	var d *tensor.Tensor
	checkFD(t, func() *tensor.Tensor {
		l, _ := c.Forward(logits, targets)
		return tensor.FromF32([]float32{float32(l)}, 1)
	}, func(dy *tensor.Tensor) {
		d = c.Backward()
		for i := range d.F32() {
			d.F32()[i] *= dy.F32()[0]
		}
	}, []fdVar{{"logits", logits.F32(), func() []float32 { return d.F32() }}}, 1e-2, fdTol)
	for r := range targets {
		if targets[r] != IgnoreIndex {
			continue
		}
		for _, v := range d.F32()[r*cols : (r+1)*cols] {
			if v != 0 {
				t.Fatalf("ignored row %d has a gradient", r)
			}
		}
	}
}

func TestCrossEntropyBadTarget(t *testing.T) {
	var c CrossEntropyLoss
	_, err := c.Forward(tensor.New(tensor.F32, 2, 3), []int32{1, 3})
	if err == nil || !strings.Contains(err.Error(), "row 1") {
		t.Fatalf("err = %v, want one naming row 1", err)
	}
}
