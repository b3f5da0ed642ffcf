package vit

import (
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// tinyCopy writes a copy of vit-tiny into a temporary directory after
// editing its tensors and config (either edit may be nil) and returns it.
func tinyCopy(t *testing.T, editTensors func(map[string]*tensor.Tensor), editConfig func(map[string]any)) string {
	t.Helper()
	f, err := safetensors.Load(filepath.Join(tinyDir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	ts := map[string]*tensor.Tensor{}
	for _, n := range f.Names() {
		if ts[n], err = f.Tensor(n); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(tinyDir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if editTensors != nil {
		editTensors(ts)
	}
	if editConfig != nil {
		editConfig(cfg)
	}
	dir := t.TempDir()
	if err := safetensors.Save(filepath.Join(dir, WeightsFile), ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if data, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadErrors(t *testing.T) {
	const q = "vit.encoder.layer.1.attention.attention.query.weight"
	for _, tc := range []struct {
		name    string
		tensors func(map[string]*tensor.Tensor)
		config  func(map[string]any)
		want    []string // substrings of the error
	}{
		{"missing key", func(m map[string]*tensor.Tensor) { delete(m, q) }, nil,
			[]string{"missing tensor", q, WeightsFile}},
		{"extra key", func(m map[string]*tensor.Tensor) {
			m["vit.encoder.layer.2.output.dense.bias"] = tensor.New(tensor.F32, 32)
		}, nil,
			[]string{"unexpected tensor", "vit.encoder.layer.2.output.dense.bias"}},
		{"wrong shape", func(m map[string]*tensor.Tensor) { m[q] = tensor.New(tensor.F32, 32, 31) }, nil,
			[]string{q, "[32 31]", "[32 32]"}},
		{"classifier vs num_labels", nil, func(c map[string]any) {
			delete(c, "id2label")
			delete(c, "label2id")
			c["num_labels"] = 3
		}, []string{"classifier.weight", "[5 32]", "[3 32]"}},
		{"hidden_act", nil, func(c map[string]any) { c["hidden_act"] = "quick_gelu" }, []string{"hidden_act", "quick_gelu", ConfigFile}},
		{"model_type", nil, func(c map[string]any) { c["model_type"] = "bert" }, []string{"model_type", "bert"}},
		{"heads", nil, func(c map[string]any) { c["num_attention_heads"] = 5 }, []string{"hidden_size", "num_attention_heads"}},
		{"patch", nil, func(c map[string]any) { c["patch_size"] = 5 }, []string{"image_size", "patch_size"}},
		{"type", nil, func(c map[string]any) { c["hidden_size"] = "32" }, []string{"hidden_size"}},
		{"dropout", nil, func(c map[string]any) { c["hidden_dropout_prob"] = 1.5 }, []string{"hidden_dropout_prob"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tinyCopy(t, tc.tensors, tc.config), LoadOptions{})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("no config.json", func(t *testing.T) {
		dir := t.TempDir()
		_, err := Load(dir, LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, ConfigFile)) {
			t.Fatalf("err = %v, want one naming %s", err, filepath.Join(dir, ConfigFile))
		}
	})
	t.Run("no model.safetensors", func(t *testing.T) {
		dir := tinyCopy(t, nil, nil)
		os.Remove(filepath.Join(dir, WeightsFile))
		_, err := Load(dir, LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), WeightsFile) {
			t.Fatalf("err = %v, want one naming %s", err, WeightsFile)
		}
	})
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m := loadTiny(t, LoadOptions{})
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	m2, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Load(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v, want format pt", f.Metadata)
	}
	a, b := nn.AllParams(m), nn.AllParams(m2)
	for i := range a {
		if a[i].Name != b[i].Name || !slices.Equal(a[i].Value.F32(), b[i].Value.F32()) || !tensor.SameShape(a[i].Value.Shape(), b[i].Value.Shape()) {
			t.Errorf("%s did not round-trip", a[i].Name)
		}
	}
	// config.json: the same fields as the original, unknown ones included.
	var orig, saved map[string]any
	for path, dst := range map[string]*map[string]any{filepath.Join(tinyDir, ConfigFile): &orig, filepath.Join(dir, ConfigFile): &saved} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, dst); err != nil {
			t.Fatal(err)
		}
	}
	o, _ := json.Marshal(orig)
	s, _ := json.Marshal(saved)
	if string(o) != string(s) {
		t.Errorf("config.json changed in the round trip:\n%s\n%s", o, s)
	}
}

func TestFreshClassifier(t *testing.T) {
	base := loadTiny(t, LoadOptions{})
	m := loadTiny(t, LoadOptions{NumLabels: 3, Seed: 1})
	again := loadTiny(t, LoadOptions{NumLabels: 3, Seed: 1})
	other := loadTiny(t, LoadOptions{NumLabels: 3, Seed: 2})
	if got := m.Config.Labels(); !slices.Equal(got, []string{"LABEL_0", "LABEL_1", "LABEL_2"}) || m.Config.Label2ID["LABEL_2"] != 2 {
		t.Errorf("labels %v / %v", got, m.Config.Label2ID)
	}
	w := m.Classifier.(*nn.Linear)
	if !tensor.SameShape(w.Weight.Value.Shape(), []int{3, 32}) || slices.ContainsFunc(w.Bias.Value.F32(), func(v float32) bool { return v != 0 }) {
		t.Fatalf("classifier %v, bias %v: want [3 32] and zero bias", w.Weight.Value, w.Bias.Value.F32())
	}
	var s2 float64
	for _, v := range w.Weight.Value.F32() {
		s2 += float64(v) * float64(v)
	}
	// 96 draws: the sample std is within ±30 % of 0.02 with overwhelming probability.
	if std := math.Sqrt(s2 / 96); std < 0.014 || std > 0.026 {
		t.Errorf("weight std %v, want about initializer_range 0.02", std)
	}
	if !slices.Equal(w.Weight.Value.F32(), again.Classifier.(*nn.Linear).Weight.Value.F32()) {
		t.Error("the same seed gave different classifiers")
	}
	if slices.Equal(w.Weight.Value.F32(), other.Classifier.(*nn.Linear).Weight.Value.F32()) {
		t.Error("different seeds gave the same classifier")
	}
	pa, pb := nn.AllParams(base), nn.AllParams(m)
	for i := range pa {
		if !strings.HasPrefix(pa[i].Name, "classifier.") && !slices.Equal(pa[i].Value.F32(), pb[i].Value.F32()) {
			t.Errorf("%s changed", pa[i].Name)
		}
	}
	if named := loadTiny(t, LoadOptions{NumLabels: 2, Labels: []string{"odd", "even"}}); named.Config.ID2Label[1] != "even" {
		t.Errorf("id2label %v", named.Config.ID2Label)
	}
}

// TestBaseModelCheckpoint loads a ViTModel checkpoint (keys without "vit.",
// a pooler, no classifier), as fine-tuning from a pretrained backbone does.
func TestBaseModelCheckpoint(t *testing.T) {
	dir := tinyCopy(t, func(m map[string]*tensor.Tensor) {
		renamed := map[string]*tensor.Tensor{}
		for k, v := range m {
			if rest, ok := strings.CutPrefix(k, "vit."); ok {
				renamed[rest] = v
			}
		}
		clear(m)
		maps.Copy(m, renamed)
		m["pooler.dense.weight"] = tensor.New(tensor.F32, 32, 32)
		m["pooler.dense.bias"] = tensor.New(tensor.F32, 32)
	}, nil)
	m, err := Load(dir, LoadOptions{NumLabels: 4})
	if err != nil {
		t.Fatal(err)
	}
	base := loadTiny(t, LoadOptions{})
	pa, pb := nn.AllParams(base), nn.AllParams(m)
	for i := range pa {
		if !strings.HasPrefix(pa[i].Name, "classifier.") && !slices.Equal(pa[i].Value.F32(), pb[i].Value.F32()) {
			t.Errorf("%s differs from the full checkpoint", pa[i].Name)
		}
	}
	if m.Config.NumLabels != 4 {
		t.Errorf("num_labels %d", m.Config.NumLabels)
	}
}

// TestLoadBF16 stores the frozen Linear weights in bf16: half their bytes,
// the classifier kept in f32, logits within bf16 rounding of the f32 ones.
func TestLoadBF16(t *testing.T) {
	ref := loadReference(t)
	m32 := loadTiny(t, LoadOptions{})
	m16 := loadTiny(t, LoadOptions{BaseDType: tensor.BF16})
	var linear int64
	_ = nn.Walk(m16, func(x nn.Module) error {
		if l, ok := x.(*nn.Linear); ok {
			want := tensor.BF16
			if l.Name() == "classifier" {
				want = tensor.F32
			} else {
				linear += int64(l.Weight.Len())
			}
			if l.Weight.Value.DType() != want {
				t.Errorf("%s weight is %v, want %v", l.Name(), l.Weight.Value.DType(), want)
			}
			if l.Bias != nil && l.Bias.Value.DType() != tensor.F32 {
				t.Errorf("%s bias is %v", l.Name(), l.Bias.Value.DType())
			}
		}
		return nil
	})
	c32, c16 := Count(m32), Count(m16)
	if c16.Bytes["BF16"] != 2*linear || c16.Bytes["F32"]+c16.Bytes["BF16"] != c32.Bytes["F32"]-2*linear {
		t.Errorf("bytes f32 model %v, bf16 model %v (%d bf16 weights)", c32.Bytes, c16.Bytes, linear)
	}
	l32 := append([]float32(nil), m32.Forward(ref.pixels).F32()...)
	l16 := m16.Forward(ref.pixels).F32()
	// Weights rounded by up to 2⁻⁹ relative through two blocks: the
	// logits move by about 1 %, no more.
	rel, _ := relErr(l16, l32)
	if rel > 2e-2 || rel == 0 {
		t.Errorf("bf16 logits differ from f32 by %.3g relative, want (0, 2e-2]", rel)
	}
	t.Logf("bf16 vs f32 logits: relative difference %.2g", rel)
}

func TestCounts(t *testing.T) {
	m := loadTiny(t, LoadOptions{})
	got, want := Count(m), ExpectedCount(m.Config)
	f, err := safetensors.Load(filepath.Join(tinyDir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	var inFile int64
	for _, n := range f.Names() {
		info, _ := f.Info(n)
		inFile += int64(info.Len())
	}
	if got.Total != inFile || got.Total != want.Total {
		t.Errorf("total %d, file holds %d, config implies %d", got.Total, inFile, want.Total)
	}
	got.Trainable = 0
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("counts %s, want %s", gj, wj)
	}
	if got.Other != 0 || got.Embeddings == 0 || got.Attention == 0 || got.MLP == 0 || got.LayerNorm == 0 || got.Classifier == 0 {
		t.Errorf("counts %+v", got)
	}
}
