package lora

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/golora/golora/peft"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	x := tensor.New(tensor.F32, 3, 4)
	randFill(rng, x.F32(), 1)
	cfg := cfgWith(func(c *Config) {
		c.InitLoraWeights = InitRandom
		c.ModulesToSave = []string{"classifier"}
		c.Bias = "lora_only"
		c.RankPattern = map[string]int{"layer.1.attention.value": 3}
	})
	base := newToy(2, 4, 3, 1)
	m, err := Inject(base, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.Layers()[0].Base.Bias.Value.F32()[0] += 0.5 // a trained bias
	if err := m.AddAdapter("second", cfgWith(func(c *Config) { c.InitLoraWeights = InitRandom }), 3); err != nil {
		t.Fatal(err)
	}
	if err := m.SetAdapter("default"); err != nil {
		t.Fatal(err)
	}
	want := base.forward(x).Clone()
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	// PEFT's layout: default at the top, others in a sub-directory.
	for _, f := range []string{peft.ConfigName, peft.WeightsName, "second/" + peft.ConfigName, "second/" + peft.WeightsName} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("missing %s: %v", f, err)
		}
	}
	f, err := safetensors.Load(filepath.Join(dir, peft.WeightsName))
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata)
	}
	got := strings.Join(f.Names(), "\n")
	wantKeys := []string{
		"base_model.model.classifier.bias", "base_model.model.classifier.weight",
		"base_model.model.model.encoder.layer.0.attention.query.base_layer.bias",
		"base_model.model.model.encoder.layer.0.attention.value.base_layer.bias",
		"base_model.model.model.encoder.layer.1.attention.query.base_layer.bias",
		"base_model.model.model.encoder.layer.1.attention.value.base_layer.bias",
	}
	for _, l := range []string{"0.attention.query", "0.attention.value", "1.attention.query", "1.attention.value"} {
		wantKeys = append(wantKeys, "base_model.model.model.encoder.layer."+l+".lora_A.weight", "base_model.model.model.encoder.layer."+l+".lora_B.weight")
	}
	sort.Strings(wantKeys)
	if got != strings.Join(wantKeys, "\n") {
		t.Errorf("keys:\n%s\nwant\n%s", got, strings.Join(wantKeys, "\n"))
	}
	if info, _ := f.Info("base_model.model.model.encoder.layer.1.attention.value.lora_A.weight"); info.DType != "F32" || info.Shape[0] != 3 || info.Shape[1] != 4 {
		t.Errorf("lora_A of the rank_pattern layer: %+v, want F32 [3 4]", info)
	}
	if info, _ := f.Info("base_model.model.model.encoder.layer.0.attention.query.lora_B.weight"); info.Shape[0] != 4 || info.Shape[1] != 2 {
		t.Errorf("lora_B shape %v, want [out r] = [4 2]", info.Shape)
	}

	// A fresh base with the adapter loaded computes the same outputs.
	base2 := newToy(2, 4, 3, 1)
	m2, err := Load(base2, dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(base2.forward(x), want); d != 0 {
		t.Errorf("loaded adapter output differs by %g", d)
	}
	if tr, _ := m2.ParamCounts(); tr == 0 {
		t.Error("a loaded adapter should be trainable (PEFT's is_trainable aside)")
	}
	if err := m2.LoadAdapter(filepath.Join(dir, "second"), "second"); err != nil {
		t.Fatal(err)
	}
}

func TestConfigJSON(t *testing.T) {
	task := (*string)(nil)
	cfg := cfgWith(func(c *Config) {
		c.R, c.LoraAlpha, c.LoraDropout = 16, 16, 0.1
		c.ModulesToSave = []string{"classifier"}
		c.TaskType = task
		c.AutoMapping = map[string]string{"base_model_class": "ViTForImageClassification", "parent_library": "transformers.models.vit.modeling_vit"}
	})
	b, err := MarshalConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	// Every field of PEFT 0.20's example (PEFT-REFERENCE.md §1b) is present.
	for _, k := range strings.Fields(`alora_invocation_tokens alpha_pattern arrow_config auto_mapping base_model_name_or_path bias corda_config
		ensure_weight_tying eva_config exclude_modules fan_in_fan_out inference_mode init_lora_weights kasa_config layer_replication
		layers_pattern layers_to_transform loftq_config lora_alpha lora_bias lora_dropout lora_ga_config megatron_config megatron_core
		modules_to_save monteclora_config peft_type peft_version qalora_group_size r rank_pattern revision target_modules
		target_parameters task_type trainable_token_indices use_bdlora use_dora use_qalora use_rslora velora_config`) {
		if _, ok := got[k]; !ok {
			t.Errorf("field %s missing", k)
		}
	}
	if len(got) != 41 {
		t.Errorf("%d fields, want PEFT's 41", len(got))
	}
	for _, frag := range []string{`"lora_alpha": 16,`, `"lora_dropout": 0.1,`, `"r": 16,`, `"inference_mode": true,`,
		`"target_modules": [
    "query",
    "value"
  ],`, `"init_lora_weights": true,`, `"task_type": null`} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("config lacks %q:\n%s", frag, b)
		}
	}
	// Keys are sorted, as json.dumps(sort_keys=True).
	var keys []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, `  "`) {
			keys = append(keys, strings.SplitN(strings.TrimSpace(line), `"`, 3)[1])
		}
	}
	if !sort.StringsAreSorted(keys) {
		t.Errorf("keys not sorted: %v", keys)
	}
	// Parsing ignores unknown fields and keeps them.
	back, err := ParseConfig(append(b[:len(b)-1], []byte(`, "some_future_field": 3}`)...))
	if err != nil {
		t.Fatal(err)
	}
	if back.R != 16 || back.LoraDropout != 0.1 || string(back.Extra["some_future_field"]) != "3" {
		t.Errorf("parsed back %+v", back)
	}
}

func TestLoadRefusesMisfits(t *testing.T) {
	base := newToy(2, 4, 3, 1)
	m, err := Inject(base, cfgWith(func(c *Config) { c.InitLoraWeights = InitRandom }), 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	wpath := filepath.Join(dir, peft.WeightsName)
	orig, _ := safetensors.Load(wpath)
	rewrite := func(edit func(map[string]*tensor.Tensor)) string {
		d := t.TempDir()
		cfgBytes, _ := os.ReadFile(filepath.Join(dir, peft.ConfigName))
		os.WriteFile(filepath.Join(d, peft.ConfigName), cfgBytes, 0o644)
		ts := map[string]*tensor.Tensor{}
		for _, n := range orig.Names() {
			ts[n], _ = orig.Tensor(n)
		}
		edit(ts)
		if err := safetensors.Save(filepath.Join(d, peft.WeightsName), ts, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	key := "base_model.model.model.encoder.layer.0.attention.query.lora_A.weight"
	for _, tc := range []struct {
		name string
		dir  string
		want string
	}{
		{"wrong shape", rewrite(func(ts map[string]*tensor.Tensor) { ts[key] = tensor.New(tensor.F32, 2, 5) }), "has shape [2 5]"},
		{"unknown key", rewrite(func(ts map[string]*tensor.Tensor) {
			ts["base_model.model.foo.lora_A.weight"] = tensor.New(tensor.F32, 1)
		}), `"base_model.model.foo.lora_A.weight" has no place`},
		{"missing key", rewrite(func(ts map[string]*tensor.Tensor) { delete(ts, key) }), "is missing"},
		{"no prefix", rewrite(func(ts map[string]*tensor.Tensor) { ts["classifier.weight"] = tensor.New(tensor.F32, 1) }), "lacks PEFT's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh := newToy(2, 4, 3, 1)
			_, err := Load(fresh, tc.dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			for _, b := range fresh.blocks {
				if _, ok := b.query.(*Linear); ok {
					t.Fatal("a refused adapter left LoRA layers behind")
				}
			}
		})
	}
	// A config that targets modules the base lacks.
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, peft.ConfigName), []byte(`{"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["q_proj"]}`), 0o644)
	if _, err := Load(newToy(2, 4, 3, 1), d); err == nil || !strings.Contains(err.Error(), "q_proj") {
		t.Errorf("foreign target_modules: %v", err)
	}
	if _, err := Load(newToy(2, 4, 3, 1), t.TempDir()); err == nil || !strings.Contains(err.Error(), peft.ConfigName) {
		t.Errorf("empty dir: %v", err)
	}
}

// TestBaseModelNameOrPath: base_model_name_or_path reads as null or a
// string and is written back as read (PEFT's AutoPeftModel loads the base
// from it).
func TestBaseModelNameOrPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *string
	}{
		{`null`, nil},
		{`"TinyLlama/TinyLlama-1.1B-Chat-v1.0"`, ptrTo("TinyLlama/TinyLlama-1.1B-Chat-v1.0")},
		{`"/models/base dir"`, ptrTo("/models/base dir")},
	} {
		c, err := ParseConfig([]byte(`{"peft_type":"LORA","r":2,"target_modules":["q"],"base_model_name_or_path":` + tc.in + `}`))
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if (c.BaseModelNameOrPath == nil) != (tc.want == nil) || (tc.want != nil && *c.BaseModelNameOrPath != *tc.want) {
			t.Errorf("%s: read %v", tc.in, c.BaseModelNameOrPath)
		}
		b, err := MarshalConfig(&c)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]json.RawMessage
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		if string(out["base_model_name_or_path"]) != tc.in {
			t.Errorf("%s: written as %s", tc.in, out["base_model_name_or_path"])
		}
	}
}

func ptrTo(s string) *string { return &s }
