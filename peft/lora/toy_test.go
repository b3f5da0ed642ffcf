package lora

import (
	"fmt"
	"math/rand/v2"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// toyBlock is a minimal transformer-shaped module for tests: three Linear
// slots named like HF ViT's attention, all reading the same input, summed.
type toyBlock struct {
	name             string
	query, value, ln nn.Layer
	out              nn.Layer
	sum, dsum        *tensor.Tensor
}

func (b *toyBlock) Name() string        { return b.name }
func (b *toyBlock) Params() []*nn.Param { return nil }
func (b *toyBlock) Children() []nn.Module {
	return []nn.Module{b.query, b.value, b.ln, b.out}
}
func (b *toyBlock) Slots() []nn.Slot {
	return []nn.Slot{{Name: b.query.Name(), Layer: &b.query}, {Name: b.value.Name(), Layer: &b.value},
		{Name: b.ln.Name(), Layer: &b.ln}, {Name: b.out.Name(), Layer: &b.out}}
}

// toyModel: blocks then a classifier head; not a real network, just a tree
// with forward/backward through every slot.
type toyModel struct {
	blocks     []*toyBlock
	classifier nn.Layer
	conv       *toyConv
}

// toyConv is a non-Linear module (like a patch embedding's Conv2d).
type toyConv struct{ name string }

func (c *toyConv) Name() string          { return c.name }
func (c *toyConv) Params() []*nn.Param   { return nil }
func (c *toyConv) Children() []nn.Module { return nil }

func (m *toyModel) Name() string        { return "" }
func (m *toyModel) Params() []*nn.Param { return nil }
func (m *toyModel) Children() []nn.Module {
	cs := []nn.Module{m.conv}
	for _, b := range m.blocks {
		cs = append(cs, b)
	}
	return append(cs, m.classifier)
}
func (m *toyModel) OutputHead() string { return "classifier" }
func (m *toyModel) Slots() []nn.Slot {
	return []nn.Slot{{Name: "classifier", Layer: &m.classifier}}
}

func randFill(rng *rand.Rand, xs []float32, scale float64) {
	for i := range xs {
		xs[i] = float32(rng.NormFloat64() * scale)
	}
}

func newToy(layers, dim, classes int, seed uint64) *toyModel {
	rng := rand.New(rand.NewPCG(seed, 1))
	lin := func(name string, in, out int) *nn.Linear {
		l := nn.NewLinear(name, in, out, true)
		randFill(rng, l.Weight.Value.F32(), 0.3)
		randFill(rng, l.Bias.Value.F32(), 0.1)
		return l
	}
	m := &toyModel{conv: &toyConv{name: "model.embeddings.patch_embeddings.projection"}}
	for i := 0; i < layers; i++ {
		p := fmt.Sprintf("model.encoder.layer.%d", i)
		m.blocks = append(m.blocks, &toyBlock{name: p,
			query: lin(p+".attention.query", dim, dim), value: lin(p+".attention.value", dim, dim),
			ln: lin(p+".attention.key", dim, dim), out: lin(p+".output.dense", dim, dim)})
	}
	m.classifier = lin("classifier", dim, classes)
	return m
}

// forward: h = x; per block h = q(h) + v(h) + k(h); then dense; logits.
func (m *toyModel) forward(x *tensor.Tensor) *tensor.Tensor {
	h := x
	for _, b := range m.blocks {
		q := b.query.Forward(h)
		v := b.value.Forward(h)
		k := b.ln.Forward(h)
		b.sum = nn.Reuse(b.sum, q.Shape()...)
		kernels.Add(b.sum.F32(), q.F32(), v.F32())
		kernels.AddTo(b.sum.F32(), k.F32())
		h = b.out.Forward(b.sum)
	}
	return m.classifier.Forward(h)
}

func (m *toyModel) backward(dy *tensor.Tensor) *tensor.Tensor {
	g := m.classifier.Backward(dy)
	for i := len(m.blocks) - 1; i >= 0 && g != nil; i-- {
		b := m.blocks[i]
		d := b.out.Backward(g)
		b.dsum = nn.Reuse(b.dsum, d.Shape()...)
		copy(b.dsum.F32(), d.F32())
		var acc *tensor.Tensor
		for _, l := range []nn.Layer{b.query, b.value, b.ln} {
			dx := l.Backward(b.dsum)
			if dx == nil {
				continue
			}
			if acc == nil {
				acc = tensor.New(tensor.F32, dx.Shape()...)
			}
			kernels.AddTo(acc.F32(), dx.F32())
		}
		g = acc
	}
	return g
}
