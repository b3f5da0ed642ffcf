package vit

import (
	"strings"
	"testing"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"model_type": "vit", "hidden_size": 64, "num_attention_heads": 4, "torch_dtype": "float32"}`))
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	if c.HiddenSize != 64 || c.NumAttentionHeads != 4 {
		t.Errorf("given fields not read: %+v", c)
	}
	if c.NumHiddenLayers != d.NumHiddenLayers || c.IntermediateSize != 3072 || c.HiddenAct != "gelu" ||
		c.LayerNormEps != 1e-12 || c.ImageSize != 224 || c.PatchSize != 16 || c.NumChannels != 3 ||
		!c.QKVBias || c.HiddenDropoutProb != 0 || c.InitializerRange != 0.02 || c.NumLabels != 2 ||
		c.ID2Label[1] != "LABEL_1" || c.Label2ID["LABEL_0"] != 0 {
		t.Errorf("absent fields did not take transformers' defaults: %+v", c)
	}
	if string(c.Extra["torch_dtype"]) != `"float32"` {
		t.Errorf("unknown field not kept: %v", c.Extra)
	}
	if c.Tokens() != 197 || c.HeadDim() != 16 {
		t.Errorf("tokens %d, head dim %d", c.Tokens(), c.HeadDim())
	}
}

func TestParseConfigLabels(t *testing.T) {
	c, err := ParseConfig([]byte(`{"num_labels": 3}`))
	if err != nil || c.NumLabels != 3 || c.ID2Label[2] != "LABEL_2" {
		t.Errorf("num_labels 3: %v %+v", err, c.ID2Label)
	}
	c, err = ParseConfig([]byte(`{"id2label": {"1": "b", "0": "a"}, "image_size": [32, 32], "patch_size": [8, 8]}`))
	if err != nil || c.NumLabels != 2 || c.Labels()[0] != "a" || c.Label2ID["b"] != 1 || c.ImageSize != 32 || c.PatchSize != 8 {
		t.Errorf("id2label and pair sizes: %v %+v", err, c)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ json, field string }{
		{`[1, 2]`, "JSON"},
		{`{"hidden_size": 0}`, "hidden_size"},
		{`{"num_hidden_layers": -1}`, "num_hidden_layers"},
		{`{"hidden_size": 100}`, "hidden_size"},
		{`{"image_size": 230}`, "image_size"},
		{`{"image_size": [224, 192]}`, "image_size"},
		{`{"patch_size": "16"}`, "patch_size"},
		{`{"hidden_act": "quick_gelu"}`, "hidden_act"},
		{`{"model_type": "deit"}`, "model_type"},
		{`{"layer_norm_eps": 0}`, "layer_norm_eps"},
		{`{"attention_probs_dropout_prob": -0.1}`, "attention_probs_dropout_prob"},
		{`{"num_labels": 0}`, "num_labels"},
		{`{"num_labels": 3, "id2label": {"0": "a"}}`, "num_labels"},
		{`{"id2label": {"0": "a", "2": "c"}}`, "id2label"},
		{`{"qkv_bias": "yes"}`, "qkv_bias"},
		{`{"architectures": "ViT"}`, "architectures"},
	} {
		_, err := ParseConfig([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: err = %v, want one naming %s", tc.json, err, tc.field)
		}
	}
}
