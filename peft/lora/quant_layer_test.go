package lora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// quantStorages are the frozen-base storages QLoRA-style training uses.
var quantStorages = []nn.Storage{
	{DType: tensor.F16}, {DType: tensor.Int8}, {DType: tensor.NF4}, {DType: tensor.NF4, DoubleQuant: true},
}

// TestLinearGradientsQuantizedBase checks dA, dB and dX (through the
// dequantised base weight, widened inside the GEMM) of a LoRA layer over a
// frozen fp16, int8 and NF4 base against central differences, with
// dropout in training.
func TestLinearGradientsQuantizedBase(t *testing.T) {
	for _, st := range quantStorages {
		t.Run(st.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(8, 8))
			const n, in, out, r = 5, 70, 6, 3 // 420 base values: blocks of 64 across rows
			base := nn.NewLinear("blk.query", in, out, true)
			randFill(rng, base.Weight.Value.F32(), 0.5)
			randFill(rng, base.Bias.Value.F32(), 0.5)
			if _, err := nn.ConvertFrozenLinears(base, st); err != nil {
				t.Fatal(err)
			}
			l := newLinear(base)
			mustAdd(t, l, "default", adapterSpec{r: r, alpha: 4, scale: 4.0 / r, dropout: 0.2, init: InitRandom}, rng)
			l.active = "default"
			l.SetTraining(true)
			l.SetStep(2)
			a, b, _ := l.Factors("default")
			for _, p := range []*nn.Param{a, b} {
				if err := p.SetTrainable(true); err != nil {
					t.Fatal(err)
				}
			}
			x := tensor.New(tensor.F32, n, in)
			randFill(rng, x.F32(), 1)
			w := make([]float32, n*out)
			randFill(rng, w, 1)
			l.Forward(x)
			dx := append([]float32(nil), l.Backward(tensor.FromF32(append([]float32(nil), w...), n, out)).F32()...)
			if base.Weight.Value.DType() != st.DType {
				t.Fatalf("base weight is %v", base.Weight.Value)
			}
			f := func() float64 { return lossOf(l.Forward(x), w) }
			checkGrad(t, "dA", a.Value.F32(), a.Grad.F32(), f)
			checkGrad(t, "dB", b.Value.F32(), b.Grad.F32(), f)
			checkGrad(t, "dx", x.F32(), dx, f)
		})
	}
}

// TestDoRAQuantizedBase: DoRA (whose weight norm PEFT detaches, so finite
// differences do not apply) over an int8 or NF4 base computes the forward
// and every gradient bit for bit as over an f32 base holding the
// dequantised weight: its row norms read the stored weight a row at a time.
func TestDoRAQuantizedBase(t *testing.T) {
	for _, st := range quantStorages[1:] {
		const n, in, out, r = 5, 70, 6, 3
		mk := func(quant bool) (*Linear, *tensor.Tensor) {
			rng := rand.New(rand.NewPCG(9, 9))
			base := nn.NewLinear("blk.value", in, out, true)
			randFill(rng, base.Weight.Value.F32(), 0.5)
			randFill(rng, base.Bias.Value.F32(), 0.5)
			if _, err := nn.ConvertFrozenLinears(base, st); err != nil {
				t.Fatal(err)
			}
			if !quant {
				base.Weight.Value = base.Weight.Value.To(tensor.F32)
			}
			l := newLinear(base)
			mustAdd(t, l, "default", adapterSpec{r: r, alpha: 4, scale: 4.0 / r, dropout: 0.2, init: InitRandom, dora: true}, rng)
			l.active = "default"
			l.SetTraining(true)
			l.SetStep(2)
			for _, p := range l.Params() {
				if err := p.SetTrainable(true); err != nil {
					t.Fatal(err)
				}
			}
			x := tensor.New(tensor.F32, n, in)
			randFill(rng, x.F32(), 1)
			return l, x
		}
		q, xq := mk(true)
		f, xf := mk(false)
		if q.Base.Weight.Value.DType() != st.DType || f.Base.Weight.Value.DType() != tensor.F32 {
			t.Fatalf("%v: bases %v and %v", st, q.Base.Weight.Value, f.Base.Weight.Value)
		}
		yq, yf := q.Forward(xq).Clone(), f.Forward(xf).Clone()
		dy := tensor.New(tensor.F32, n, out)
		randFill(rand.New(rand.NewPCG(1, 1)), dy.F32(), 1)
		dxq, dxf := q.Backward(dy).Clone(), f.Backward(dy).Clone()
		same := func(what string, a, b []float32) {
			for i := range a {
				if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
					t.Fatalf("%v DoRA: %s[%d] = %v, over the dequantised f32 base %v", st, what, i, a[i], b[i])
				}
			}
		}
		same("y", yq.F32(), yf.F32())
		same("dx", dxq.F32(), dxf.F32())
		for i, p := range q.Params() {
			same(p.Name+" grad", p.Grad.F32(), f.Params()[i].Grad.F32())
		}
	}
}

// TestMergeQuantizedBase: merging into a quantised base weight gives an
// f32 weight dequant(W) + s·B·A (for DoRA, rescaled by its magnitude)
// computing what the adapter computed, and unmerging restores the stored
// weight itself.
func TestMergeQuantizedBase(t *testing.T) {
	for i, st := range append(quantStorages, quantStorages[2]) {
		dora := i == len(quantStorages)
		rng := rand.New(rand.NewPCG(1, 2))
		const n, in, out, r = 4, 90, 5, 2
		base := nn.NewLinear("q", in, out, true)
		randFill(rng, base.Weight.Value.F32(), 0.5)
		randFill(rng, base.Bias.Value.F32(), 0.5)
		if _, err := nn.ConvertFrozenLinears(base, st); err != nil {
			t.Fatal(err)
		}
		stored := base.Weight.Value
		l := newLinear(base)
		mustAdd(t, l, "default", adapterSpec{r: r, alpha: 8, scale: 4, init: InitRandom, dora: dora}, rng)
		l.active = "default"
		x := tensor.New(tensor.F32, n, in)
		randFill(rng, x.F32(), 1)
		want := l.Forward(x).Clone()
		if err := l.merge("default"); err != nil {
			t.Fatalf("%v: %v", st, err)
		}
		if base.Weight.Value.DType() != tensor.F32 {
			t.Fatalf("%v: merged weight is %v, want F32", st, base.Weight.Value)
		}
		// The merged weight is the dequantised one plus the update (to an
		// ulp: the GEMM may fuse the addition).
		delta := make([]float32, out*in)
		l.deltaInto(delta, l.adapters["default"], 1)
		deq := stored.To(tensor.F32).F32()
		for i, v := range base.Weight.Value.F32() {
			if dora {
				break // rescaled rows; the outputs below check it
			}
			if w := deq[i] + delta[i]; math.Abs(float64(v-w)) > 0x1p-23*(math.Abs(float64(deq[i]))+math.Abs(float64(delta[i]))) {
				t.Fatalf("%v: merged W[%d] = %v, want %v + %v", st, i, v, deq[i], delta[i])
			}
		}
		got := l.Forward(x)
		for i := range want.F32() {
			if d := math.Abs(float64(got.F32()[i] - want.F32()[i])); d > 1e-5*math.Max(1, math.Abs(float64(want.F32()[i]))) {
				t.Fatalf("%v: merged output %d: %g vs adapter %g", st, i, got.F32()[i], want.F32()[i])
			}
		}
		l.unmerge()
		if base.Weight.Value != stored {
			t.Fatalf("%v: unmerge did not restore the stored weight", st)
		}
	}
}
