package bert

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/internal/reftest"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// copyDir copies bert-tiny into a temporary directory, editing config.json
// and the weights (by key) on the way.
func copyDir(t *testing.T, config func(map[string]any), weights func(map[string]*tensor.Tensor)) string {
	t.Helper()
	dst := t.TempDir()
	b, err := os.ReadFile(filepath.Join(testdata("bert-tiny"), models.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if config != nil {
		var m map[string]any
		json.Unmarshal(b, &m)
		config(m)
		b, _ = json.Marshal(m)
	}
	if err := os.WriteFile(filepath.Join(dst, models.ConfigFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Load(filepath.Join(testdata("bert-tiny"), models.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	ts := map[string]*tensor.Tensor{}
	for _, n := range f.Names() {
		ts[n], _ = f.Tensor(n)
	}
	if weights != nil {
		weights(ts)
	}
	if err := safetensors.Save(filepath.Join(dst, models.WeightsFile), ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestLoadVariants(t *testing.T) {
	ref := reftest.Open(t, filepath.Join(testdata("bert-tiny"), "expected.safetensors"))
	want, err := Load(testdata("bert-tiny"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := want.Labels(); strings.Join(got, ",") != "negative,neutral,positive" {
		t.Errorf("labels %v", got)
	}
	pooled := func(m *Model) []float32 {
		m.Forward(refBatch(t, ref).IDs, refBatch(t, ref).TokenTypes, refBatch(t, ref).Mask, 3, 8)
		return append([]float32(nil), m.Pooler.Act.Forward(m.Pooler.Dense.Forward(m.cls)).F32()...)
	}
	base := pooled(want)

	// A BertForMaskedLM checkpoint: cls.* head and position_ids, no
	// classifier: the encoder loads, the classifier is fresh.
	dir := copyDir(t, nil, func(ts map[string]*tensor.Tensor) {
		delete(ts, "classifier.weight")
		delete(ts, "classifier.bias")
		ts["cls.predictions.bias"] = tensor.New(tensor.F32, 50)
		ts["bert.embeddings.position_ids"] = tensor.New(tensor.F32, 1, 16)
	})
	m, err := Load(dir, LoadOptions{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !equal(pooled(m), base) {
		t.Error("encoder differs when loaded from a masked-LM checkpoint")
	}
	// A bare BertModel (no "bert." prefix).
	dir = copyDir(t, nil, func(ts map[string]*tensor.Tensor) {
		for k, v := range ts {
			if strings.HasPrefix(k, "bert.") {
				ts[strings.TrimPrefix(k, "bert.")] = v
				delete(ts, k)
			}
		}
		delete(ts, "classifier.weight")
		delete(ts, "classifier.bias")
	})
	if m, err = Load(dir, LoadOptions{NumLabels: 2, Labels: []string{"neg", "pos"}}); err != nil {
		t.Fatal(err)
	}
	if !equal(pooled(m), base) || m.Config.NumLabels() != 2 || m.Classifier.(*nn.Linear).Out != 2 {
		t.Error("bare BertModel: encoder or head wrong")
	}
	// Another number of labels: a fresh head.
	if m, err = Load(testdata("bert-tiny"), LoadOptions{NumLabels: 5}); err != nil {
		t.Fatal(err)
	}
	if m.Classifier.(*nn.Linear).Out != 5 || m.Labels()[4] != "LABEL_4" {
		t.Errorf("fresh head: %v", m.Labels())
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		config  func(map[string]any)
		weights func(map[string]*tensor.Tensor)
		want    []string
	}{
		{"missing", nil, func(ts map[string]*tensor.Tensor) { delete(ts, "bert.pooler.dense.weight") }, []string{"missing", "bert.pooler.dense.weight"}},
		{"shape", nil, func(ts map[string]*tensor.Tensor) { ts["bert.embeddings.LayerNorm.bias"] = tensor.New(tensor.F32, 5) }, []string{"shape", "LayerNorm.bias"}},
		{"unexpected", nil, func(ts map[string]*tensor.Tensor) { ts["bert.extra"] = tensor.New(tensor.F32, 1) }, []string{"unexpected", "bert.extra"}},
		{"relative positions", func(c map[string]any) { c["position_embedding_type"] = "relative_key" }, nil, []string{"position_embedding_type", "relative_key"}},
		{"regression", func(c map[string]any) { delete(c, "id2label"); delete(c, "label2id"); c["num_labels"] = 1 }, nil, []string{"num_labels", "regression"}},
		{"multi-label", func(c map[string]any) { c["problem_type"] = "multi_label_classification" }, nil, []string{"problem_type"}},
		{"heads", func(c map[string]any) { c["num_attention_heads"] = 5 }, nil, []string{"hidden_size", "num_attention_heads"}},
		{"pad", func(c map[string]any) { c["pad_token_id"] = 50 }, nil, []string{"pad_token_id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(copyDir(t, tc.config, tc.weights), LoadOptions{})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestSaveRoundTripAndCheckpointing(t *testing.T) {
	m, err := Load(testdata("bert-tiny"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := m.Save(out); err != nil {
		t.Fatal(err)
	}
	back, err := Load(out, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := nn.AllParams(m), nn.AllParams(back)
	for i := range a {
		if a[i].Name != b[i].Name || !equal(a[i].Value.F32(), b[i].Value.F32()) {
			t.Fatalf("%s differs after a round trip", a[i].Name)
		}
	}
	if strings.Join(back.Labels(), ",") != strings.Join(m.Labels(), ",") {
		t.Errorf("labels %v after a round trip", back.Labels())
	}

	// Checkpointing: bitwise the same gradients, with dropout on.
	ref := reftest.Open(t, filepath.Join(testdata("bert-tiny"), "expected.safetensors"))
	grads := func(ckpt bool) map[string][]float32 {
		m, _ := Load(testdata("bert-tiny"), LoadOptions{Seed: 9})
		nn.SetTraining(m, true)
		for _, p := range nn.AllParams(m) {
			p.SetTrainable(true)
		}
		m.SetGradientCheckpointing(ckpt)
		nn.SetStep(m, 2)
		b := refBatch(t, ref)
		var ce nn.CrossEntropyLoss
		ce.Forward(m.ForwardBatch(b), b.Targets)
		m.Backward(ce.Backward())
		g := map[string][]float32{}
		for _, p := range nn.AllParams(m) {
			g[p.Name] = append([]float32(nil), p.Grad.F32()...)
		}
		return g
	}
	plain, ck := grads(false), grads(true)
	for name, g := range plain {
		if !equal(g, ck[name]) {
			t.Errorf("%s: gradient differs with checkpointing", name)
		}
	}
}

// TestLegacyLayerNormNames: checkpoints converted from TensorFlow (the
// original bert-base-uncased) name LayerNorm parameters gamma and beta;
// they load as transformers loads them, to the same values.
func TestLegacyLayerNormNames(t *testing.T) {
	src := testdata("bert-tiny")
	f, err := safetensors.Load(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	tensors, renamed := map[string]*tensor.Tensor{}, 0
	for _, name := range f.Names() {
		v, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(name, "LayerNorm.") {
			name = strings.Replace(strings.Replace(name, "LayerNorm.weight", "LayerNorm.gamma", 1), "LayerNorm.bias", "LayerNorm.beta", 1)
			renamed++
		}
		tensors[name] = v
	}
	if renamed == 0 {
		t.Fatal("bert-tiny has no LayerNorm tensors to rename")
	}
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Save(filepath.Join(dir, "model.safetensors"), tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	want, err := Load(src, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatalf("gamma/beta names: %v", err)
	}
	a, b := nn.AllParams(want), nn.AllParams(got)
	for i := range a {
		if !equal(a[i].Value.F32(), b[i].Value.F32()) {
			t.Errorf("%s differs", a[i].Name)
		}
	}
}
