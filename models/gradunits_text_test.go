package models_test

import (
	"slices"
	"testing"

	"github.com/golora/golora/data"
	"github.com/golora/golora/models"
	"github.com/golora/golora/models/bert"
	"github.com/golora/golora/models/llama"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// TestTextGradUnits: the text models' units cover every parameter once,
// are reported in order, and each unit's gradients are final when
// Backward reports it, with and without checkpointing, for full training,
// one trainable middle block and a trainable embedding, with padding.
func TestTextGradUnits(t *testing.T) {
	lc := llama.Preset(16, 3, 4, 2, 20, 8)
	lc.IntermediateSize = 24
	tied := lc
	tied.TieWordEmbeddings = true
	cls := lc
	cls.Labels = []string{"a", "b"}
	bc := bert.Preset(16, 3, 2, 24, 8)
	bc.VocabSize = 20
	build := map[string]func() models.Model{
		"llama":      func() models.Model { m, _ := llama.New(lc, 1); return m },
		"llama-tied": func() models.Model { m, _ := llama.New(tied, 1); return m },
		"llama-cls":  func() models.Model { m, _ := llama.NewSeqCls(cls, 1); return m },
		"bert":       func() models.Model { m, _ := bert.New(bc, 1); return m },
	}
	trainable := map[string]func(p *nn.Param) bool{
		"full": func(*nn.Param) bool { return true },
		"block1": func(p *nn.Param) bool {
			return slices.Contains([]string{"model.layers.1.", "bert.encoder.layer.1."}, prefix(p.Name))
		},
		"embeds": func(p *nn.Param) bool {
			return p.Name == "model.embed_tokens.weight" || p.Name == "bert.embeddings.word_embeddings.weight"
		},
	}
	for mname, mk := range build {
		for tname, tr := range trainable {
			for _, ckpt := range []bool{false, true} {
				m := mk()
				if m == nil {
					t.Fatalf("%s: not built", mname)
				}
				for _, p := range nn.AllParams(m) {
					if err := p.SetTrainable(tr(p)); err != nil {
						t.Fatal(err)
					}
				}
				m.SetGradientCheckpointing(ckpt)
				nn.SetTraining(m, true)
				gu := m.(nn.GradUnits)
				units := gu.GradUnits()
				seen := map[*nn.Param]int{}
				for _, u := range units {
					for _, p := range nn.AllParams(u) {
						seen[p]++
					}
				}
				for _, p := range nn.AllParams(m) {
					if seen[p] != 1 {
						t.Fatalf("%s: %s is in %d units", mname, p.Name, seen[p])
					}
				}
				snap := map[*nn.Param][]float32{}
				var order []int
				gu.OnGradUnit(func(u int) {
					order = append(order, u)
					for _, p := range nn.TrainableParams(units[u]) {
						snap[p] = append([]float32(nil), p.Grad.F32()...)
					}
				})
				var b data.Batch
				b.N, b.T = 3, 6
				for i := range b.N * b.T {
					b.IDs = append(b.IDs, int32(1+i*7%19))
					b.Mask = append(b.Mask, int32(min(1, (i%6+i/6)%5)))
				}
				for range 2 {
					nn.ZeroGrads(m)
					y := m.ForwardBatch(&b)
					d := tensor.New(tensor.F32, y.Shape()...)
					for i := range d.F32() {
						d.F32()[i] = float32(i%7) - 3
					}
					m.Backward(d)
				}
				what := mname + "/" + tname
				if len(order) == 0 || order[0] != 0 {
					t.Fatalf("%s: units reported %v", what, order)
				}
				for i := range order {
					if order[i] != i%(order[len(order)-1]+1) {
						t.Fatalf("%s: units reported in order %v", what, order)
					}
				}
				for _, p := range nn.TrainableParams(m) {
					s, ok := snap[p]
					if !ok {
						t.Errorf("%s (checkpointing %v): %s's unit was not reported", what, ckpt, p.Name)
						continue
					}
					if !slices.Equal(s, p.Grad.F32()) {
						t.Errorf("%s (checkpointing %v): %s changed after its unit was reported", what, ckpt, p.Name)
					}
				}
			}
		}
	}
}

// prefix is a parameter name up to its block ("model.layers.1.").
func prefix(name string) string {
	dots := 0
	for i, c := range name {
		if c == '.' {
			if dots++; dots == 3 && name[:i] != "bert.encoder.layer" {
				return name[:i+1]
			}
			if dots == 4 {
				return name[:i+1]
			}
		}
	}
	return name
}
