package train

import (
	"github.com/golora/golora/data"
	"math"
	"math/rand/v2"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// tinyModel is a two-layer perceptron over flattened inputs: enough to
// exercise every path of the Trainer in milliseconds. Its Linears sit in
// slots, so LoRA (with dropout) can be injected into it.
type tinyModel struct {
	fc1, fc2 nn.Layer
	act      *nn.Activation
	in       int
}

func newTiny(in, hidden, classes int, seed uint64) *tinyModel {
	rng := rand.New(rand.NewPCG(seed, 1))
	l1 := nn.NewLinear("fc1", in, hidden, true)
	l2 := nn.NewLinear("fc2", hidden, classes, true)
	for _, l := range []*nn.Linear{l1, l2} {
		nn.Normal(l.Weight.Value, 1/math.Sqrt(float64(l.In)), rng)
		for _, p := range l.Params() {
			if err := p.SetTrainable(true); err != nil {
				panic(err)
			}
		}
	}
	l1.SetInputGrad(false)
	act, err := nn.NewActivation("act", "gelu")
	if err != nil {
		panic(err)
	}
	return &tinyModel{fc1: l1, fc2: l2, act: act, in: in}
}

func (m *tinyModel) Name() string          { return "" }
func (m *tinyModel) Params() []*nn.Param   { return nil }
func (m *tinyModel) Children() []nn.Module { return []nn.Module{m.fc1, m.act, m.fc2} }
func (m *tinyModel) OutputHead() string    { return "fc2" }
func (m *tinyModel) Slots() []nn.Slot {
	return []nn.Slot{{Name: "fc1", Layer: &m.fc1}, {Name: "fc2", Layer: &m.fc2}}
}

func (m *tinyModel) Forward(x *tensor.Tensor) *tensor.Tensor {
	h := m.fc1.Forward(x.Reshape(x.Dim(0), m.in))
	return m.fc2.Forward(m.act.Forward(h))
}

func (m *tinyModel) ForwardBatch(b *data.Batch) *tensor.Tensor { return m.Forward(b.Pixels) }

func (m *tinyModel) Backward(d *tensor.Tensor) *tensor.Tensor {
	d = m.fc2.Backward(d)
	return m.fc1.Backward(m.act.Backward(d))
}

// blobs is a synthetic classification set: each class is a Gaussian blob
// around its own random centre, in a [1, side, side] "image".
type blobs struct {
	x      [][]float32
	labels []int32
	shape  []int
}

func newBlobs(n, side, classes int, seed uint64) *blobs {
	return newBlobsNoise(n, side, classes, seed, 0)
}

// newBlobsNoise draws the examples with another noise stream: a test set
// for the same classes.
func newBlobsNoise(n, side, classes int, seed, noise uint64) *blobs {
	rng := rand.New(rand.NewPCG(seed, 2))
	dim := side * side
	centres := make([][]float32, classes)
	for c := range centres {
		centres[c] = make([]float32, dim)
		for i := range centres[c] {
			centres[c][i] = float32(rng.NormFloat64())
		}
	}
	b := &blobs{shape: []int{1, side, side}}
	rng = rand.New(rand.NewPCG(seed, 3+noise))
	for i := range n {
		c := i % classes
		v := make([]float32, dim)
		for j := range v {
			v[j] = centres[c][j] + float32(1.2*rng.NormFloat64())
		}
		b.x = append(b.x, v)
		b.labels = append(b.labels, int32(c))
	}
	return b
}

func (b *blobs) Len() int     { return len(b.x) }
func (b *blobs) Shape() []int { return b.shape }
func (b *blobs) Example(i int, dst []float32) int32 {
	copy(dst, b.x[i])
	return b.labels[i]
}
func (b *blobs) Fill(bt *data.Batch, idx []int) { ImageDataset(b).Fill(bt, idx) }

// poisoned wraps a dataset and returns NaN pixels for one example.
type poisoned struct {
	Images
	bad int
}

func (p poisoned) Fill(bt *data.Batch, idx []int) { ImageDataset(p).Fill(bt, idx) }

func (p poisoned) Example(i int, dst []float32) int32 {
	l := p.Images.Example(i, dst)
	if i == p.bad {
		dst[0] = float32(math.NaN())
	}
	return l
}
