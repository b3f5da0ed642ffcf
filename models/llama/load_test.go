package llama

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// copyDir copies a model directory into a temporary one, editing
// config.json with edit (nil: unchanged).
func copyDir(t *testing.T, src string, edit func(map[string]any)) string {
	t.Helper()
	dst := t.TempDir()
	for _, f := range []string{models.ConfigFile, models.WeightsFile} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == models.ConfigFile && edit != nil {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			edit(m)
			b, _ = json.Marshal(m)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// rewriteWeights replaces model.safetensors in dir by edit's result.
func rewriteWeights(t *testing.T, dir string, edit func(map[string]*tensor.Tensor)) {
	t.Helper()
	path := filepath.Join(dir, models.WeightsFile)
	f, err := safetensors.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := map[string]*tensor.Tensor{}
	for _, n := range f.Names() {
		if ts[n], err = f.Tensor(n); err != nil {
			t.Fatal(err)
		}
	}
	edit(ts)
	if err := safetensors.Save(path, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, dir := range []string{"llama-tiny", "llama-tiny-tied"} {
		t.Run(dir, func(t *testing.T) {
			m, err := Load(testdata(dir), LoadOptions{})
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
			if back.Config.String() != m.Config.String() {
				t.Errorf("config changed:\n%+v\n%+v", back.Config, m.Config)
			}
			a, b := nn.AllParams(m), nn.AllParams(back)
			for i := range a {
				if a[i].Name != b[i].Name || !equal(a[i].Value.F32(), b[i].Value.F32()) {
					t.Fatalf("%s differs after a round trip", a[i].Name)
				}
			}
			f, err := safetensors.Load(filepath.Join(out, models.WeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			if info, _ := f.Info("model.norm.weight"); (info.DType == "BF16") != (m.Config.TorchDType == "bfloat16") {
				t.Errorf("saved as %s with torch_dtype %q", info.DType, m.Config.TorchDType)
			}
			_, hasHead := f.Info("lm_head.weight")
			if hasHead == m.Config.TieWordEmbeddings {
				t.Errorf("lm_head.weight saved: %v, tied: %v", hasHead, m.Config.TieWordEmbeddings)
			}
			raw, _ := os.ReadFile(filepath.Join(out, models.ConfigFile))
			for _, want := range []string{`"model_type": "llama"`, `"num_key_value_heads"`, `"rope_theta"`, `"architectures": [`} {
				if !strings.Contains(string(raw), want) {
					t.Errorf("config.json lacks %s:\n%s", want, raw)
				}
			}
		})
	}
}

// String is a stable rendering of a config for comparisons.
func (c Config) String() string { b, _ := json.Marshal(c); return string(b) }

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
		dir     string
		config  func(map[string]any)
		weights func(map[string]*tensor.Tensor)
		want    []string
	}{
		{"missing tensor", "llama-tiny", nil, func(ts map[string]*tensor.Tensor) { delete(ts, "model.norm.weight") }, []string{"missing", "model.norm.weight"}},
		{"wrong shape", "llama-tiny", nil, func(ts map[string]*tensor.Tensor) { ts["model.norm.weight"] = tensor.New(tensor.F32, 3) }, []string{"model.norm.weight", "shape"}},
		{"unexpected tensor", "llama-tiny", nil, func(ts map[string]*tensor.Tensor) { ts["model.extra"] = tensor.New(tensor.F32, 3) }, []string{"unexpected", "model.extra"}},
		{"tied head differs", "llama-tiny-tied", nil, func(ts map[string]*tensor.Tensor) {
			ts["lm_head.weight"] = tensor.New(tensor.F32, ts["model.embed_tokens.weight"].Shape()...)
		}, []string{"lm_head.weight", "tie_word_embeddings"}},
		{"untied head missing", "llama-tiny", nil, func(ts map[string]*tensor.Tensor) { delete(ts, "lm_head.weight") }, []string{"missing", "lm_head.weight"}},
		{"yarn", "llama-tiny", func(c map[string]any) { c["rope_scaling"] = map[string]any{"rope_type": "yarn", "factor": 4.0} }, nil, []string{"rope_scaling", "yarn"}},
		{"gelu", "llama-tiny", func(c map[string]any) { c["hidden_act"] = "gelu" }, nil, []string{"hidden_act", "gelu"}},
		{"kv heads", "llama-tiny", func(c map[string]any) { c["num_key_value_heads"] = 3 }, nil, []string{"num_key_value_heads", "3"}},
		{"odd head_dim", "llama-tiny", func(c map[string]any) { c["head_dim"] = 7 }, nil, []string{"head_dim", "odd"}},
		{"eos", "llama-tiny", func(c map[string]any) { c["eos_token_id"] = []int{2, 999} }, nil, []string{"eos_token_id", "999"}},
		{"model_type", "llama-tiny", func(c map[string]any) { c["model_type"] = "mistral" }, nil, []string{"model_type", "mistral"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, testdata(tc.dir), tc.config)
			if tc.weights != nil {
				rewriteWeights(t, dir, tc.weights)
			}
			_, err := Load(dir, LoadOptions{})
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
	// A tied checkpoint that also carries lm_head.weight, equal to the
	// embedding (as some exporters write it), loads.
	dir := copyDir(t, testdata("llama-tiny-tied"), nil)
	rewriteWeights(t, dir, func(ts map[string]*tensor.Tensor) { ts["lm_head.weight"] = ts["model.embed_tokens.weight"] })
	if _, err := Load(dir, LoadOptions{}); err != nil {
		t.Errorf("tied checkpoint with an equal lm_head.weight: %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128,
		"num_hidden_layers": 2, "vocab_size": 100, "eos_token_id": [2, 3], "rope_scaling": {"type": "linear", "factor": 2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.NumKeyValueHeads != 4 || c.HeadDim() != 16 || c.RMSNormEps != 1e-6 || c.RopeTheta != 10000 || c.TieWordEmbeddings {
		t.Errorf("defaults: %+v", c)
	}
	if len(c.EOSTokenIDs) != 2 || c.RopeScaling == nil || c.RopeScaling.Type != "linear" {
		t.Errorf("eos %v, rope_scaling %+v", c.EOSTokenIDs, c.RopeScaling)
	}
}

// TestGradientCheckpointing checks that checkpointing leaves every
// gradient bitwise unchanged (full fine-tuning, with attention dropout).
func TestGradientCheckpointing(t *testing.T) {
	ref := reftestOpen(t)
	grads := func(ckpt bool) map[string][]float32 {
		m, err := Load(testdata("llama-tiny"), LoadOptions{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range m.Layers {
			l.SelfAttn.Dropout.P = 0.2
		}
		nn.SetTraining(m, true)
		for _, p := range nn.AllParams(m) {
			p.SetTrainable(true)
		}
		m.SetGradientCheckpointing(ckpt)
		b := refBatch(t, ref)
		nn.SetStep(m, 5)
		logits := m.ForwardBatch(b)
		var ce nn.CrossEntropyLoss
		if _, err := ce.Forward(logits, b.Targets); err != nil {
			t.Fatal(err)
		}
		m.Backward(ce.Backward())
		g := map[string][]float32{}
		for _, p := range nn.AllParams(m) {
			g[p.Name] = append([]float32(nil), p.Grad.F32()...)
		}
		return g
	}
	plain, ckpt := grads(false), grads(true)
	for name, g := range plain {
		if !equal(g, ckpt[name]) {
			t.Errorf("%s: gradient differs with checkpointing", name)
		}
	}
}

// TestNewInit checks transformers' initialisation: N(0, 0.02²) weights,
// norms at one, reproducible from the seed.
func TestNewInit(t *testing.T) {
	c := Preset(64, 2, 4, 2, 100, 32)
	a, err := New(c, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(c, 7)
	w := a.Layers[1].MLP.Down.(*nn.Linear).Weight.Value.F32()
	var ss float64
	for _, v := range w {
		ss += float64(v) * float64(v)
	}
	if std := ss / float64(len(w)); std < 0.8*0.0004 || std > 1.2*0.0004 {
		t.Errorf("weight variance %g, want about 0.02²", std)
	}
	if !equal(w, b.Layers[1].MLP.Down.(*nn.Linear).Weight.Value.F32()) {
		t.Error("same seed, different weights")
	}
	if a.Norm.Weight.Value.F32()[0] != 1 {
		t.Error("norm weight not 1")
	}
}
