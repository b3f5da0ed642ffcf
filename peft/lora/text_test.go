package lora_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/data"
	"github.com/golora/golora/internal/reftest"
	"github.com/golora/golora/models"
	_ "github.com/golora/golora/models/bert"  // registers model_type "bert"
	_ "github.com/golora/golora/models/llama" // registers model_type "llama"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/lora"
)

// textBatch makes the reference batch of a text model from its
// expected.safetensors: causal (targets shifted: target t is label t+1)
// or one label per sequence, with token types when the file has them.
func textBatch(t *testing.T, ref reftest.File, causal bool) *data.Batch {
	t.Helper()
	ids, shape := ref.Ints(t, "input_ids")
	mask, _ := ref.Ints(t, "attention_mask")
	labels, _ := ref.Ints(t, "labels")
	B, T := shape[0], shape[1]
	var b data.Batch
	rows := B
	if causal {
		rows = B * T
	}
	bi, bm, bt := b.SetTokens(B, T, rows, true)
	copy(bi, ids)
	copy(bm, mask)
	if causal {
		for i := range bt {
			bt[i] = data.IgnoreIndex
			if (i+1)%T != 0 {
				bt[i] = labels[i+1]
			}
		}
	} else {
		copy(bt, labels)
		if _, ok := ref.Info("token_type_ids"); ok {
			types, _ := ref.Ints(t, "token_type_ids")
			copy(b.SetTokenTypes(), types)
		}
	}
	return &b
}

// TestTextModelsAgainstPyTorch loads PEFT-layout adapters written by
// testdata/gen_text_models.py onto the tiny LLaMA (q_proj/v_proj, and
// every Linear but lm_head as PEFT writes "all-linear" out, with rsLoRA)
// and the tiny BERT (query/value, the classifier as modules_to_save), and
// checks logits (1e-4), loss and the gradients of every adapter tensor
// (1e-3) against PyTorch's.
func TestTextModelsAgainstPyTorch(t *testing.T) {
	for _, tc := range []struct {
		adapter, base string
		causal        bool
		layers        int
	}{
		{"lora-llama", "llama-tiny", true, 4},
		{"lora-llama-all-linear", "llama-tiny", true, 14},
		{"lora-bert", "bert-tiny", false, 4},
	} {
		t.Run(tc.adapter, func(t *testing.T) {
			baseRef := reftest.Open(t, filepath.Join(testdata, tc.base, "expected.safetensors"))
			ref := reftest.Open(t, filepath.Join(testdata, tc.adapter, "expected.safetensors"))
			base, err := models.Load(filepath.Join(testdata, tc.base), models.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			m, err := lora.Load(base, filepath.Join(testdata, tc.adapter, "adapter"))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(m.Layers()); n != tc.layers {
				t.Errorf("%d adapted layers, want %d", n, tc.layers)
			}
			// Evaluation mode (as loaded): no dropout, as in the reference.
			b := textBatch(t, baseRef, tc.causal)
			logits := base.ForwardBatch(b)
			reftest.Close(t, "logits", logits.F32(), ref.Tensor(t, "logits").F32(), 1e-4)
			var ce nn.CrossEntropyLoss
			loss, err := ce.Forward(logits, b.Targets)
			if err != nil {
				t.Fatal(err)
			}
			if want := float64(ref.Tensor(t, "loss").F32()[0]); math.Abs(loss-want) > 1e-5*math.Abs(want) {
				t.Errorf("loss %v, want %v", loss, want)
			}
			base.Backward(ce.Backward())
			// PEFT's file names: the adapter name stripped.
			var named []*nn.Param
			for _, p := range nn.TrainableParams(base) {
				q := *p
				q.Name = strings.Replace(p.Name, ".default.", ".", 1)
				named = append(named, &q)
			}
			if n := ref.Grads(t, named, 1e-3, nil); n != len(named) {
				t.Errorf("compared %d gradients, want %d (every trainable tensor)", n, len(named))
			}
		})
	}
}

// TestAllLinearExcludesHead checks that "all-linear" adapts every Linear of
// the LLaMA but lm_head, as PEFT does, and the BERT's but the classifier.
func TestAllLinearExcludesHead(t *testing.T) {
	for _, dir := range []string{"llama-tiny", "bert-tiny"} {
		base, err := models.Load(filepath.Join(testdata, dir), models.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := lora.DefaultConfig()
		c.TargetModules = lora.TargetRegex(lora.AllLinear)
		m, err := lora.Inject(base, c, 1)
		if err != nil {
			t.Fatal(err)
		}
		want := 14 // 2 layers × q, k, v, o, gate, up, down
		if dir == "bert-tiny" {
			want = 2*6 + 1 // 2 layers × query, key, value, attention.output, intermediate, output; pooler
		}
		if n := len(m.Layers()); n != want {
			t.Errorf("%s: all-linear adapts %d layers, want %d", dir, n, want)
		}
		for _, l := range m.Layers() {
			if l.Name() == base.OutputHead() {
				t.Errorf("%s: all-linear adapts the head %s", dir, l.Name())
			}
		}
	}
}

// TestTextMergeAndUnload merges each text adapter into its base: the
// plain model's logits are the adapted model's (PyTorch's reference).
func TestTextMergeAndUnload(t *testing.T) {
	for _, tc := range []struct {
		adapter, base string
		causal        bool
	}{{"lora-llama", "llama-tiny", true}, {"lora-llama-all-linear", "llama-tiny", true}, {"lora-bert", "bert-tiny", false}} {
		t.Run(tc.adapter, func(t *testing.T) {
			baseRef := reftest.Open(t, filepath.Join(testdata, tc.base, "expected.safetensors"))
			ref := reftest.Open(t, filepath.Join(testdata, tc.adapter, "expected.safetensors"))
			base, err := models.Load(filepath.Join(testdata, tc.base), models.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			m, err := lora.Load(base, filepath.Join(testdata, tc.adapter, "adapter"))
			if err != nil {
				t.Fatal(err)
			}
			merged, err := m.MergeAndUnload()
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			if err := merged.(models.Model).Save(out); err != nil {
				t.Fatal(err)
			}
			plain, err := models.Load(out, models.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			reftest.Close(t, "merged logits", plain.ForwardBatch(textBatch(t, baseRef, tc.causal)).F32(), ref.Tensor(t, "logits").F32(), 1e-4)
		})
	}
}
