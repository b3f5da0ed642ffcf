package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// storages are the frozen-weight storages other than f32.
var storages = []Storage{
	{DType: tensor.BF16}, {DType: tensor.F16}, {DType: tensor.Int8},
	{DType: tensor.NF4}, {DType: tensor.NF4, DoubleQuant: true},
}

// quantPair returns a Linear whose frozen weight is stored as s, a second
// Linear with the same bias and, in f32, exactly the values the first
// one's weight dequantises to, and the original f32 weight.
func quantPair(t *testing.T, rng *rand.Rand, s Storage, in, out int, fanInFanOut bool) (q, ref *Linear, orig *tensor.Tensor) {
	t.Helper()
	mk := func() *Linear {
		l := NewLinear("enc.dense", in, out, true)
		l.FanInFanOut = fanInFanOut
		if fanInFanOut {
			l.Weight.Value = tensor.New(tensor.F32, in, out)
		}
		return l
	}
	q, ref = mk(), mk()
	Normal(q.Weight.Value, 0.5, rand.New(rand.NewPCG(rng.Uint64(), 1)))
	Normal(q.Bias.Value, 0.5, rand.New(rand.NewPCG(rng.Uint64(), 2)))
	copy(ref.Bias.Value.F32(), q.Bias.Value.F32())
	orig = q.Weight.Value.Clone()
	if _, err := ConvertFrozenLinears(q, s); err != nil {
		t.Fatal(err)
	}
	if q.Weight.Value.DType() != s.DType || q.Weight.Value.DoubleQuant() != s.DoubleQuant {
		t.Fatalf("weight stored as %v, want %v", q.Weight.Value, s)
	}
	ref.Weight.Value = q.Weight.Value.To(tensor.F32)
	for _, l := range []*Linear{q, ref} {
		if err := l.Bias.SetTrainable(true); err != nil {
			t.Fatal(err)
		}
	}
	return q, ref, orig
}

// TestLinearQuantizedBase: a frozen Linear over a bf16, fp16, int8 or NF4
// weight computes the forward, the input gradient and the bias gradient
// bit for bit as the same Linear over the dequantised f32 weight (the GEMM
// widens to exactly those values), and its input gradient agrees with
// finite differences.
func TestLinearQuantizedBase(t *testing.T) {
	const n, in, out = 9, 70, 13 // 910 values: blocks of 64 cut rows, a short last block
	for _, s := range storages {
		for _, fan := range []bool{false, true} {
			name := s.String()
			if fan {
				name += "/fan_in_fan_out"
			}
			t.Run(name, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(21, 22))
				q, ref, orig := quantPair(t, rng, s, in, out, fan)
				x := randT(rng, 1, 3, 3, in)
				dy := randT(rng, 1, 3, 3, out)
				y, yRef := q.Forward(x).F32(), ref.Forward(x).F32()
				ZeroGrads(q)
				ZeroGrads(ref)
				dx, dxRef := q.Backward(dy).F32(), ref.Backward(dy).F32()
				for _, c := range []struct {
					what      string
					got, want []float32
				}{{"y", y, yRef}, {"dx", dx, dxRef}, {"dbias", q.Bias.Grad.F32(), ref.Bias.Grad.F32()}} {
					for i := range c.want {
						if math.Float32bits(c.got[i]) != math.Float32bits(c.want[i]) {
							t.Fatalf("%s[%d] = %v over %v, %v over the dequantised f32 weight", c.what, i, c.got[i], s, c.want[i])
						}
					}
				}
				// The quantised weight is really used: the output differs
				// from the original f32 weight's.
				ref.Weight.Value = orig
				if equal32(ref.Forward(x).F32(), y) {
					t.Error("the output equals the original f32 weight's: the stored weight was not used")
				}
				var dxv *tensor.Tensor
				vars := []fdVar{{name: "x", val: x.F32(), grad: func() []float32 { return dxv.F32() }}, paramVar(q.Bias)}
				checkFD(t, func() *tensor.Tensor { return q.Forward(x) },
					func(dy *tensor.Tensor) { ZeroGrads(q); dxv = q.Backward(dy) }, vars, 1e-2, fdTol)
			})
		}
	}
}

func TestConvertFrozenLinearsQuantized(t *testing.T) {
	build := func() *SelfAttention {
		s := NewSelfAttention("attn", 16, 2, true, 0, 1)
		Normal(s.Query.(*Linear).Weight.Value, 1, rand.New(rand.NewPCG(1, 1)))
		Normal(s.Key.(*Linear).Weight.Value, 1, rand.New(rand.NewPCG(1, 2)))
		Normal(s.Value.(*Linear).Weight.Value, 1, rand.New(rand.NewPCG(1, 3)))
		if err := s.Query.(*Linear).Weight.SetTrainable(true); err != nil {
			t.Fatal(err)
		}
		return s
	}
	dtypes := func(s *SelfAttention) string {
		var out []string
		for _, l := range []Layer{s.Query, s.Key, s.Value} {
			out = append(out, StorageName(l.(*Linear).Weight.Value.DType(), l.(*Linear).Weight.Value.DoubleQuant()))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		s    Storage
		conv bool // mark value as a convolution
		want string
	}{
		{Storage{DType: tensor.NF4, DoubleQuant: true, Keep: []string{"attn.key"}}, false, "f32 f32 nf4-dq"},
		{Storage{DType: tensor.Int8}, true, "f32 int8 f32"},
		{Storage{DType: tensor.NF4}, false, "f32 nf4 nf4"},
		// Float dtypes convert every frozen Linear, as torch_dtype does.
		{Storage{DType: tensor.F16, Keep: []string{"attn.key"}}, true, "f32 fp16 fp16"},
	} {
		s := build()
		s.Value.(*Linear).Conv = tc.conv
		if _, err := ConvertFrozenLinears(s, tc.s); err != nil {
			t.Fatal(err)
		}
		if got := dtypes(s); got != tc.want {
			t.Errorf("%v: weights stored as %q, want %q", tc.s, got, tc.want)
		}
		// Back to f32: every weight dequantised, nothing trainable touched.
		deq := s.Value.(*Linear).Weight.Value.To(tensor.F32)
		saved, err := ConvertFrozenLinears(s, Storage{DType: tensor.F32})
		if err != nil {
			t.Fatal(err)
		}
		if got := dtypes(s); got != "f32 f32 f32" || saved > 0 {
			t.Errorf("%v: after widening back %q, saved %d", tc.s, got, saved)
		}
		if !equal32(s.Value.(*Linear).Weight.Value.F32(), deq.F32()) {
			t.Errorf("%v: widening back does not give the dequantised values", tc.s)
		}
	}

	// A NaN or Inf weight is refused before anything is converted.
	s := build()
	s.Value.(*Linear).Weight.Value.F32()[5] = float32(math.Inf(-1))
	_, err := ConvertFrozenLinears(s, Storage{DType: tensor.NF4})
	if err == nil || !strings.Contains(err.Error(), "attn.value.weight") || !strings.Contains(err.Error(), "-Inf") {
		t.Errorf("Inf weight: error %v", err)
	}
	if got := dtypes(s); got != "f32 f32 f32" {
		t.Errorf("after the error the weights are %q: a conversion happened", got)
	}
	for _, bad := range []Storage{{DType: tensor.Int8, DoubleQuant: true}, {DType: 0}, {DType: 99}} {
		if _, err := ConvertFrozenLinears(s, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestAccountWeightsByDType(t *testing.T) {
	s := NewSelfAttention("attn", 64, 2, true, 0, 1)
	if _, err := ConvertFrozenLinears(s.Key, Storage{DType: tensor.NF4, DoubleQuant: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ConvertFrozenLinears(s.Value, Storage{DType: tensor.Int8}); err != nil {
		t.Fatal(err)
	}
	defer memory.SetWeights(memory.Bytes{})
	got := AccountWeights(s)
	want := memory.Bytes{}
	want[memory.WeightsF32] = 4 * (64*64 + 3*64)
	want[memory.WeightsNF4] = tensor.NF4Bytes(64*64, true)
	want[memory.WeightsInt8] = 64*64 + 4*64
	if got != want {
		t.Errorf("AccountWeights = %v, want %v", got.WeightsByDType(), want.WeightsByDType())
	}
	if live := memory.Live(); live.Weights() != want.Weights() || live[memory.WeightsNF4] != want[memory.WeightsNF4] {
		t.Errorf("memory's gauges %v, want %v", live.WeightsByDType(), want.WeightsByDType())
	}
}

func TestDequantizeWeight(t *testing.T) {
	l := NewLinear("fc", 8, 8, false)
	Normal(l.Weight.Value, 1, rand.New(rand.NewPCG(4, 4)))
	if l.DequantizeWeight() != nil {
		t.Error("an f32 weight returned a previous storage")
	}
	if _, err := ConvertFrozenLinears(l, Storage{DType: tensor.NF4}); err != nil {
		t.Fatal(err)
	}
	q := l.Weight.Value
	if orig := l.DequantizeWeight(); orig != q || l.Weight.Value.DType() != tensor.F32 || !equal32(l.Weight.Value.F32(), q.To(tensor.F32).F32()) {
		t.Errorf("DequantizeWeight: returned %v, weight now %v", orig, l.Weight.Value)
	}
	if err := (&Param{Name: "w", Value: q}).SetTrainable(true); err == nil || !strings.Contains(err.Error(), "NF4") {
		t.Errorf("SetTrainable on an NF4 value: %v", err)
	}
}

func equal32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
