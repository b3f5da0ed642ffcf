package plan

import (
	"math"
	"strings"
	"testing"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// TestLoRAStepOnQuantizedBase trains LoRA (with dropout, the classifier
// saved) for two steps over a bf16, fp16, int8, NF4 and double-quantised
// NF4 base, and the same setup over an f32 base whose frozen weights hold
// exactly the dequantised values. Every loss, LoRA gradient and updated
// value agrees bit for bit: the GEMM widens the stored weights to those
// values and then does the same arithmetic, forward and backward (dX
// through the dequantised W).
func TestLoRAStepOnQuantizedBase(t *testing.T) {
	ms := methods(t, small())
	for _, name := range []string{"lora-bf16", "lora-fp16", "lora-int8", "lora-nf4", "lora-nf4-dq"} {
		t.Run(name, func(t *testing.T) {
			q, err := Build(ms[name], true, 7)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := Build(ms["lora"], true, 7)
			if err != nil {
				t.Fatal(err)
			}
			refParams := map[string]*nn.Param{}
			for _, p := range nn.AllParams(ref.Root()) {
				refParams[p.Name] = p
			}
			stored := 0
			for _, p := range nn.AllParams(q.Root()) {
				if dt := p.Value.DType(); dt != tensor.F32 {
					if dt != ms[name].BaseDType {
						t.Fatalf("%s stored as %v", p.Name, dt)
					}
					refParams[p.Name].Value = p.Value.To(tensor.F32)
					stored++
				}
			}
			// query, key, value, attention output, intermediate and
			// output dense of 3 blocks; the classifier trains; the patch
			// embedding (a Conv2d) is quantised by neither int8 nor NF4.
			want := 6 * 3
			if !ms[name].BaseDType.Quantized() {
				want++
			}
			if stored != want {
				t.Fatalf("%d weights stored as %v, want %d", stored, ms[name].BaseDType, want)
			}
			rq, err := NewRunner(q, 3, 5)
			if err != nil {
				t.Fatal(err)
			}
			rr, err := NewRunner(ref, 3, 5)
			if err != nil {
				t.Fatal(err)
			}
			for step := 0; step < 2; step++ {
				lq, err := rq.Step()
				if err != nil {
					t.Fatal(err)
				}
				lr, err := rr.Step()
				if err != nil {
					t.Fatal(err)
				}
				if lq != lr {
					t.Fatalf("step %d: loss %v over %s, %v over the dequantised f32 base", step, lq, name, lr)
				}
			}
			trainable := nn.TrainableParams(q.Root())
			if len(trainable) == 0 {
				t.Fatal("nothing trains")
			}
			for _, p := range trainable {
				r := refParams[p.Name]
				for _, c := range [][2][]float32{{p.Grad.F32(), r.Grad.F32()}, {p.Value.F32(), r.Value.F32()}} {
					for i := range c[0] {
						if math.Float32bits(c[0][i]) != math.Float32bits(c[1][i]) {
							t.Fatalf("%s[%d]: %v over %s, %v over the dequantised base", p.Name, i, c[0][i], name, c[1][i])
						}
					}
				}
			}
		})
	}
}

func TestQuantizedBaseRefusesFullFineTuning(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.BF16, tensor.F16, tensor.Int8, tensor.NF4} {
		_, err := Build(Setup{Base: source(small()), Method: "full", BaseDType: dt}, false, 1)
		if err == nil || !strings.Contains(err.Error(), "full fine-tuning") || !strings.Contains(err.Error(), "LoRA") {
			t.Errorf("full fine-tuning over a %v base: error %v", dt, err)
		}
	}
	l := vitLoRA(t, small())
	for _, s := range []Setup{
		{Base: source(small()), Method: "lora", LoRA: l, BaseDType: tensor.Int8, DoubleQuant: true},
		{Base: source(small()), Method: "lora", LoRA: l},
	} {
		if _, err := Build(s, false, 1); err == nil {
			t.Errorf("%v (double quant %v) accepted", s.BaseDType, s.DoubleQuant)
		}
	}
}

// TestQuantizedWeightBytes: on vit-tiny-224, the frozen Linear weights
// (all but the classifier and the patch embedding) take 0.14x their f32
// bytes in NF4 (0.129x double-quantised), 0.25x + a scale per row in int8
// and half in fp16 and bf16; the f32 rest (LayerNorms, biases, embeddings,
// the classifier, the LoRA factors) is the same in every setup.
func TestQuantizedWeightBytes(t *testing.T) {
	c := vit.Preset(224, 16, 12)
	e := map[string]Estimate{}
	for name, s := range methods(t, c) {
		if name == "full" || name == "lora-ckpt" {
			continue
		}
		var err error
		if e[name], err = Predict(s, 1); err != nil {
			t.Fatal(err)
		}
	}
	f32 := e["lora"]
	for name, lim := range map[string][2]float64{
		"lora-bf16": {0.5, 0.5}, "lora-fp16": {0.5, 0.5}, "lora-int8": {0.25, 0.26},
		"lora-nf4": {0.140625, 0.140625}, "lora-nf4-dq": {0.128, 0.1295},
	} {
		s := e[name]
		dt := methods(t, c)[name].BaseDType
		cat := memory.WeightsOf(dt)
		ratio := float64(s.Bytes[cat]) / float64(4*s.Values[cat])
		if ratio < lim[0] || ratio > lim[1] {
			t.Errorf("%s: %v weights are %.4fx their f32 bytes, want [%g, %g]", name, dt, ratio, lim[0], lim[1])
		}
		if s.Bytes[memory.WeightsF32] != f32.Bytes[memory.WeightsF32]-4*s.Values[cat] {
			t.Errorf("%s: f32 rest %d bytes, want %d", name, s.Bytes[memory.WeightsF32], f32.Bytes[memory.WeightsF32]-4*s.Values[cat])
		}
		t.Logf("%s: stored weights %.4fx of f32, all weights %.4fx", name, ratio, float64(s.Bytes.Weights())/float64(f32.Bytes.Weights()))
	}
}
