package bert

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/data"
	"github.com/golora/golora/internal/reftest"
	"github.com/golora/golora/nn"
)

func testdata(dir string) string { return filepath.Join("..", "..", "testdata", dir) }

// refBatch makes the batch of testdata/bert-tiny's expected.safetensors.
func refBatch(t testing.TB, ref reftest.File) *data.Batch {
	t.Helper()
	ids, shape := ref.Ints(t, "input_ids")
	types, _ := ref.Ints(t, "token_type_ids")
	mask, _ := ref.Ints(t, "attention_mask")
	labels, _ := ref.Ints(t, "labels")
	B, T := shape[0], shape[1]
	var b data.Batch
	bi, bm, bt := b.SetTokens(B, T, B, true)
	copy(bi, ids)
	copy(bm, mask)
	copy(b.SetTokenTypes(), types)
	copy(bt, labels)
	return &b
}

// keyBiasZero reports the key biases, whose gradient is zero analytically
// (q·b is added to a whole row of scores, which softmax ignores), with the
// scale to judge them on: the query bias gradient's.
func keyBiasZero(params []*nn.Param) func(string) (bool, float64) {
	byName := map[string]*nn.Param{}
	for _, p := range params {
		byName[p.Name] = p
	}
	return func(name string) (bool, float64) {
		if !strings.HasSuffix(name, ".attention.self.key.bias") {
			return false, 0
		}
		q := byName[strings.Replace(name, ".key.", ".query.", 1)]
		return true, reftest.MaxAbs(q.Grad.F32())
	}
}

// TestMatchesPyTorch loads the tiny BERT (sentence pairs, padding), trains
// every parameter in evaluation mode (no dropout), and compares logits,
// loss and all gradients with PyTorch's (testdata/gen_text_models.py).
func TestMatchesPyTorch(t *testing.T) {
	ref := reftest.Open(t, filepath.Join(testdata("bert-tiny"), "expected.safetensors"))
	m, err := Load(testdata("bert-tiny"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range nn.AllParams(m) {
		if err := p.SetTrainable(true); err != nil {
			t.Fatal(err)
		}
	}
	b := refBatch(t, ref)
	if err := b.Check(m.Spec()); err != nil {
		t.Fatal(err)
	}
	logits := m.ForwardBatch(b)
	reftest.Close(t, "logits", logits.F32(), ref.Tensor(t, "logits").F32(), 1e-4)
	var ce nn.CrossEntropyLoss
	loss, err := ce.Forward(logits, b.Targets)
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(ref.Tensor(t, "loss").F32()[0]); math.Abs(loss-want) > 1e-5*math.Abs(want) {
		t.Errorf("loss %v, want %v", loss, want)
	}
	m.Backward(ce.Backward())
	ps := nn.AllParams(m)
	if n := ref.Grads(t, ps, 1e-3, keyBiasZero(ps)); n != len(ps) {
		t.Errorf("compared %d gradients, want %d (every parameter)", n, len(ps))
	}
}
