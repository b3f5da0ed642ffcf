package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/tokenizer"
)

// Words of the test corpora: a toy language whose sentences carry a
// sentiment word of one class or the other.
var (
	textNouns = []string{"the whale", "a ship", "the captain", "the sea", "a sailor", "the harpoon"}
	textVerbs = []string{"saw", "followed", "crossed", "hunted", "feared", "found"}
	textGood  = []string{"great", "fine", "brave", "glad"}
	textBad   = []string{"awful", "grim", "cruel", "sad"}
)

// writeTextCorpus writes n short documents, one .txt file each, into dir.
func writeTextCorpus(t *testing.T, dir string, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		var b strings.Builder
		for range 6 {
			fmt.Fprintf(&b, "%s %s %s. ", textNouns[rng.IntN(len(textNouns))], textVerbs[rng.IntN(len(textVerbs))], textNouns[rng.IntN(len(textNouns))])
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("doc%03d.txt", i)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeTextClasses writes the aclImdb layout: dir/{train,test}/{neg,pos}/*.txt.
func writeTextClasses(t *testing.T, dir string, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	for _, split := range []string{"train", "test"} {
		for c, class := range []string{"neg", "pos"} {
			d := filepath.Join(dir, split, class)
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				words := textBad
				if c == 1 {
					words = textGood
				}
				s := fmt.Sprintf("%s %s %s, %s.", textNouns[rng.IntN(len(textNouns))], textVerbs[rng.IntN(len(textVerbs))], textNouns[rng.IntN(len(textNouns))], words[rng.IntN(len(words))])
				if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%d.txt", i)), []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// TestTextCommands runs the text commands end to end on tiny corpora:
// pretrain a LLaMA (training its tokenizer), evaluate its perplexity,
// LoRA-train it as a language model and as a classifier (LlamaFor
// SequenceClassification from the causal-LM checkpoint), generate with
// the adapter, merge, and evaluate.
func TestTextCommands(t *testing.T) {
	dir := t.TempDir()
	corpus, cls := filepath.Join(dir, "corpus"), filepath.Join(dir, "cls")
	writeTextCorpus(t, corpus, 40, 1)
	writeTextClasses(t, cls, 24)
	base := filepath.Join(dir, "base")
	common := []string{"--per-device-train-batch-size", "4", "--per-device-eval-batch-size", "8", "--logging-steps", "0", "--quiet"}
	code, out, errs := golora(append([]string{"pretrain", "--dataset", corpus, "--vocab-size", "320", "--hidden-size", "16",
		"--num-hidden-layers", "1", "--num-attention-heads", "2", "--num-key-value-heads", "1", "--max-position-embeddings", "32",
		"--max-steps", "4", "--output-dir", base}, common...)...)
	if code != 0 {
		t.Fatalf("pretrain: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "perplexity") {
		t.Errorf("pretrain output lacks the perplexity:\n%s", out)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "metrics.jsonl"} {
		if _, err := os.Stat(filepath.Join(base, f)); err != nil {
			t.Errorf("pretrain wrote no %s", f)
		}
	}
	if cfg := readJSON(t, filepath.Join(base, "config.json")); cfg["model_type"] != "llama" || cfg["num_key_value_heads"] != 1.0 {
		t.Errorf("pretrained config: %v", cfg)
	}

	// A block of one token has nothing to predict: refused as a flag, not
	// a crash (an error once got lost and eval met a nil dataset).
	for _, args := range [][]string{{"eval"}, {"train", "--output-dir", filepath.Join(dir, "bs1")}} {
		cmd := args[0]
		code, out, errs = golora(append(args, "--model", base, "--dataset", corpus, "--block-size", "1")...)
		if code != 2 || !strings.Contains(errs, "--block-size 1") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%s --block-size 1: exit %d, stderr %q", cmd, code, errs)
		}
	}

	code, out, errs = golora("eval", "--model", base, "--dataset", corpus, "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d\n%s%s", code, out, errs)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(out), &ev); err != nil || ev["task"] != "causal-lm" || !(ev["perplexity"].(float64) > 1) {
		t.Errorf("eval JSON %q (%v)", out, err)
	}

	lm := filepath.Join(dir, "lora-lm")
	code, out, errs = golora(append([]string{"train", "--model", base, "--dataset", corpus, "--max-steps", "3", "--output-dir", lm, "--r", "2"}, common...)...)
	if code != 0 {
		t.Fatalf("train causal-lm: exit %d\n%s%s", code, out, errs)
	}
	if ac := readJSON(t, filepath.Join(lm, "adapter_config.json")); ac["task_type"] != "CAUSAL_LM" || fmt.Sprint(ac["target_modules"]) != "[q_proj v_proj]" {
		t.Errorf("LM adapter config: task %v, targets %v", ac["task_type"], ac["target_modules"])
	}
	// PEFT's AutoPeftModel*.from_pretrained(adapter) loads the base from
	// base_model_name_or_path: --model as given.
	if ac := readJSON(t, filepath.Join(lm, "adapter_config.json")); ac["base_model_name_or_path"] != base {
		t.Errorf("LM adapter's base_model_name_or_path %v, want %q", ac["base_model_name_or_path"], base)
	}

	// A labelled data set on the causal LM, alone or with its causal-LM
	// adapter, would be scored by a freshly initialised head: refused in
	// one line that says what to do; --task causal-lm scores the texts as
	// a language model.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"eval", "--model", base, "--dataset", cls}, []string{"freshly initialised head", "golora train --model " + base, "--task causal-lm"}},
		{[]string{"eval", "--model", base, "--adapter", lm, "--dataset", cls}, []string{"CAUSAL_LM adapter", "--task causal-lm"}},
	} {
		code, out, errs = golora(tc.args...)
		if code != 1 || out != "" || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, code, out, errs)
		}
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%v: stderr %q lacks %q", tc.args, errs, w)
			}
		}
	}
	if code, out, errs = golora("eval", "--model", base, "--adapter", lm, "--dataset", cls, "--task", "causal-lm", "--json"); code != 0 || !strings.Contains(out, "perplexity") {
		t.Errorf("eval --task causal-lm of a labelled data set: exit %d\n%s%s", code, out, errs)
	}

	code, out, errs = golora("generate", "--model", base, "--adapter", lm, "--prompt", "the whale", "--max-new-tokens", "5", "--json")
	if code != 0 {
		t.Fatalf("generate: exit %d\n%s%s", code, out, errs)
	}
	var g struct {
		Prompt string  `json:"prompt"`
		IDs    []int32 `json:"generated_ids"`
	}
	if err := json.Unmarshal([]byte(out), &g); err != nil || g.Prompt != "the whale" || len(g.IDs) == 0 || len(g.IDs) > 5 {
		t.Errorf("generate JSON %q (%v)", out, err)
	}
	code, out, _ = golora("generate", "--model", base, "--prompt", "the whale", "--max-new-tokens", "4", "--temperature", "0.9", "--top-p", "0.9", "--seed", "5")
	if code != 0 || !strings.HasPrefix(out, "the whale") {
		t.Errorf("sampled generation: exit %d, %q", code, out)
	}

	clsOut := filepath.Join(dir, "lora-cls")
	code, out, errs = golora(append([]string{"train", "--model", base, "--dataset", cls, "--max-steps", "3", "--output-dir", clsOut, "--max-seq-length", "16"}, common...)...)
	if code != 0 {
		t.Fatalf("train classification: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "accuracy") {
		t.Errorf("classification output lacks the accuracy:\n%s", out)
	}
	ac := readJSON(t, filepath.Join(clsOut, "adapter_config.json"))
	if ac["task_type"] != "SEQ_CLS" || fmt.Sprint(ac["modules_to_save"]) != "[score]" {
		t.Errorf("classification adapter: task %v, modules_to_save %v", ac["task_type"], ac["modules_to_save"])
	}
	if ac["base_model_name_or_path"] != base {
		t.Errorf("classification adapter's base_model_name_or_path %v, want %q", ac["base_model_name_or_path"], base)
	}
	code, out, errs = golora("eval", "--model", base, "--adapter", clsOut, "--dataset", cls, "--max-seq-length", "16", "--json")
	if code != 0 || !strings.Contains(out, `"task":"classification"`) {
		t.Errorf("eval classification: exit %d\n%s%s", code, out, errs)
	}
	// An adapter that does not save the head leaves it fresh: refused.
	noHead := filepath.Join(dir, "lora-cls-nohead")
	code, out, errs = golora(append([]string{"train", "--model", base, "--dataset", cls, "--max-steps", "1", "--output-dir", noHead, "--max-seq-length", "16", "--modules-to-save", "none"}, common...)...)
	if code != 0 {
		t.Fatalf("train without modules_to_save: exit %d\n%s%s", code, out, errs)
	}
	for _, args := range [][]string{
		{"eval", "--model", base, "--adapter", noHead, "--dataset", cls, "--max-seq-length", "16"},
		{"predict", "--model", base, "--adapter", noHead, "the sea"},
	} {
		code, out, errs = golora(args...)
		if code != 1 || !strings.Contains(errs, "freshly initialised head") || !strings.Contains(errs, "does not save one") {
			t.Errorf("%s with an adapter without the head: exit %d, stdout %q, stderr %q", args[0], code, out, errs)
		}
	}

	code, out, errs = golora("predict", "--model", base, "--adapter", clsOut, "--json", "the whale saw a ship, great.", "the sea, awful.")
	if code != 0 || strings.Count(out, `"label":`) != 2 {
		t.Errorf("predict texts: exit %d\n%s%s", code, out, errs)
	}
	// An empty text is named in a one-line error, not "document 0".
	code, _, errs = golora("predict", "--model", base, "--adapter", clsOut, "the sea", "")
	if code != 1 || !strings.Contains(errs, `text 2 ("") encodes to no tokens`) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("predict of an empty text: exit %d, stderr %q", code, errs)
	}

	merged := filepath.Join(dir, "merged")
	if code, out, errs = golora("merge", "--model", base, "--adapter", lm, "--out", merged); code != 0 {
		t.Fatalf("merge: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(merged, "tokenizer.json")); err != nil {
		t.Error("a merged text model is saved without its tokenizer.json")
	}

	// QLoRA on text: a classification adapter trained over an NF4 base,
	// evaluated and merged over the same base; the merged f32 model
	// evaluates as the adapter on the NF4 base did.
	qOut := filepath.Join(dir, "qlora-cls")
	code, out, errs = golora(append([]string{"train", "--model", base, "--dataset", cls, "--base-dtype", "nf4", "--double-quant", "--max-steps", "3", "--output-dir", qOut, "--max-seq-length", "16"}, common...)...)
	if code != 0 {
		t.Fatalf("train over nf4: exit %d\n%s%s", code, out, errs)
	}
	code, qev, errs := golora("eval", "--model", base, "--adapter", qOut, "--base-dtype", "nf4", "--double-quant", "--dataset", cls, "--max-seq-length", "16", "--json")
	if code != 0 {
		t.Fatalf("eval over nf4: exit %d\n%s%s", code, qev, errs)
	}
	qMerged := filepath.Join(dir, "qlora-merged")
	if code, out, errs = golora("merge", "--model", base, "--adapter", qOut, "--base-dtype", "nf4", "--double-quant", "--out", qMerged); code != 0 {
		t.Fatalf("merge over nf4: exit %d\n%s%s", code, out, errs)
	}
	// The merged LlamaForSequenceClassification records the pad used in
	// training: transformers pools by pad_token_id and refuses batches of
	// more than one without it.
	btok, err := loadTokenizer(base, "")
	if err != nil {
		t.Fatal(err)
	}
	wantPad, ok := btok.TokenToID("<|endoftext|>") // the trained tokenizer's pad (and eos)
	if mc := readJSON(t, filepath.Join(qMerged, "config.json")); !ok || mc["pad_token_id"] != float64(wantPad) {
		t.Errorf("merged classifier's pad_token_id %v, want %d (found %v)", mc["pad_token_id"], wantPad, ok)
	}
	fullCls := filepath.Join(dir, "full-cls") // a fully fine-tuned classifier records its pad too
	if code, out, errs = golora(append([]string{"train", "--model", base, "--dataset", cls, "--method", "full", "--max-steps", "1", "--output-dir", fullCls, "--max-seq-length", "16"}, common...)...); code != 0 {
		t.Fatalf("train full classification: exit %d\n%s%s", code, out, errs)
	}
	if mc := readJSON(t, filepath.Join(fullCls, "config.json")); mc["pad_token_id"] != float64(wantPad) {
		t.Errorf("fully fine-tuned classifier's pad_token_id %v, want %d", mc["pad_token_id"], wantPad)
	}
	if code, out, errs = golora("eval", "--model", fullCls, "--dataset", cls, "--max-seq-length", "16"); code != 0 {
		t.Errorf("eval of the fully fine-tuned classifier (its head is stored): exit %d\n%s%s", code, out, errs)
	}
	code, mev, errs := golora("eval", "--model", qMerged, "--dataset", cls, "--max-seq-length", "16", "--json")
	if code != 0 {
		t.Fatalf("eval merged: exit %d\n%s%s", code, mev, errs)
	}
	var qe, me map[string]any
	if json.Unmarshal([]byte(qev), &qe) != nil || json.Unmarshal([]byte(mev), &me) != nil || me["accuracy"] != qe["accuracy"] ||
		math.Abs(me["loss"].(float64)-qe["loss"].(float64)) > 1e-5*math.Abs(qe["loss"].(float64)) {
		t.Errorf("the merged model evaluates %s, the adapter over the NF4 base %s", mev, qev)
	}

	full := filepath.Join(dir, "full")
	code, out, errs = golora(append([]string{"train", "--model", base, "--dataset", corpus, "--method", "full", "--max-steps", "2", "--output-dir", full}, common...)...)
	if code != 0 {
		t.Fatalf("train full: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(full, "tokenizer.json")); err != nil {
		t.Error("a fully fine-tuned text model is saved without its tokenizer.json")
	}
}

// bertTokenizerJSON is a WordPiece tokenizer.json (BERT's normalizer,
// pre-tokenizer and post-processor) over testdata/bert-tiny's 50 ids.
func bertTokenizerJSON() []byte {
	vocab := map[string]int{"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}
	words := []string{"the", "a", "whale", "ship", "captain", "sea", "sailor", "harpoon", "saw", "followed", "crossed",
		"hunted", "feared", "found", "great", "fine", "brave", "glad", "awful", "grim", "cruel", "sad", ",", ".", "##s"}
	for i, w := range words {
		vocab[w] = 5 + i
	}
	var added []map[string]any
	for _, s := range []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} {
		added = append(added, map[string]any{"id": vocab[s], "content": s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true})
	}
	b, _ := json.Marshal(map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil, "added_tokens": added,
		"normalizer":     map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": nil, "lowercase": true},
		"pre_tokenizer":  map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{"type": "BertProcessing", "sep": []any{"[SEP]", 3}, "cls": []any{"[CLS]", 2}},
		"decoder":        map[string]any{"type": "WordPiece", "prefix": "##", "cleanup": true},
		"model":          map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab},
	})
	return b
}

// TestTextBertClassification LoRA-trains the tiny BERT (its 3-label head
// replaced by one for neg/pos) on an aclImdb-style folder, and checks the
// errors of mismatched text commands.
func TestTextBertClassification(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "bert")
	if err := os.MkdirAll(model, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "bert-tiny", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(model, f), b, 0o644)
	}
	if err := os.WriteFile(filepath.Join(model, "tokenizer.json"), bertTokenizerJSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	cls := filepath.Join(dir, "cls")
	writeTextClasses(t, cls, 16)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := golora("train", "--model", model, "--dataset", cls, "--max-steps", "3", "--output-dir", out,
		"--max-seq-length", "16", "--per-device-train-batch-size", "4", "--quiet")
	if code != 0 {
		t.Fatalf("train: exit %d\n%s%s", code, stdout, stderr)
	}
	ac := readJSON(t, filepath.Join(out, "adapter_config.json"))
	if ac["task_type"] != "SEQ_CLS" || fmt.Sprint(ac["target_modules"]) != "[query value]" || fmt.Sprint(ac["modules_to_save"]) != "[classifier]" {
		t.Errorf("BERT adapter: %v %v %v", ac["task_type"], ac["target_modules"], ac["modules_to_save"])
	}
	if l, _ := os.ReadFile(filepath.Join(out, "labels.json")); strings.TrimSpace(string(l)) != `["neg","pos"]` {
		t.Errorf("labels.json %s", l)
	}

	corpus := filepath.Join(dir, "corpus")
	writeTextCorpus(t, corpus, 10, 3)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--model", model, "--dataset", corpus, "--output-dir", filepath.Join(dir, "x1")}, "not a causal language model"},
		{[]string{"train", "--model", model, "--dataset", corpus, "--task", "classification", "--output-dir", filepath.Join(dir, "x2")}, "no labels"},
		{[]string{"train", "--model", filepath.Join("..", "..", "testdata", "llama-tiny"), "--dataset", corpus, "--output-dir", filepath.Join(dir, "x3")}, "tokenizer.json"},
		{[]string{"train", "--model", filepath.Join("..", "..", "assets", "vit-mnist-0-4"), "--dataset", cls, "--output-dir", filepath.Join(dir, "x4")}, "tokenizer.json"},
		{[]string{"generate", "--model", model, "--prompt", "the"}, "not a causal language model"},
		{[]string{"train", "--model", model, "--dataset", cls, "--task", "summarize", "--output-dir", filepath.Join(dir, "x5")}, "--task"},
	} {
		code, _, stderr := golora(tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") > 1 && code == 1 {
			t.Errorf("%v: exit %d, stderr %q; want an error naming %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestLoadTextDir(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// DIR/*.txt: documents in name order, the last 5 % (at least one) held out.
	for i := range 30 {
		write(fmt.Sprintf("docs/%02d.txt", i), fmt.Sprintf("document %d", i))
	}
	c, err := loadTextCorpus(filepath.Join(dir, "docs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.train) != 28 || len(c.test) != 2 || c.test[1] != "document 29" || c.classes != nil {
		t.Errorf("docs: %d train, %d test %v", len(c.train), len(c.test), c.test)
	}
	// train.txt + validation.txt.
	write("lm/train.txt", "a b c")
	write("lm/validation.txt", "d e")
	if c, err = loadTextCorpus(filepath.Join(dir, "lm")); err != nil || c.train[0] != "a b c" || c.test[0] != "d e" {
		t.Errorf("train.txt/validation.txt: %v %v", c, err)
	}
	// aclImdb layout.
	for _, f := range []string{"train/neg/1.txt", "train/pos/1.txt", "train/pos/2.txt", "test/neg/1.txt", "test/pos/1.txt"} {
		write("acl/"+f, f)
	}
	if c, err = loadTextCorpus(filepath.Join(dir, "acl")); err != nil || fmt.Sprint(c.classes) != "[neg pos]" || fmt.Sprint(c.trainLabels) != "[0 1 1]" {
		t.Errorf("class folders: %+v %v", c, err)
	}
	if !isTextDataset(filepath.Join(dir, "acl")) || !isTextDataset("imdb") || isTextDataset("mnist") || isTextDataset(filepath.Join(dir, "none")) {
		t.Error("isTextDataset")
	}
	write("bad/train/neg/1.txt", "x")
	write("bad/test/neg/1.txt", "x")
	write("one/only.txt", "x")
	write("half/train.txt", "x")
	for _, tc := range []struct{ dir, want string }{
		{"bad", "class folders"},
		{"one", "cannot be split"},
		{"half", "validation.txt"},
		{"none", "does not exist"},
	} {
		if _, err := loadTextCorpus(filepath.Join(dir, tc.dir)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one naming %q", tc.dir, err, tc.want)
		}
	}
}

// TestTruncationSide: right keeps a text's beginning, left its end, with
// the special tokens kept either way (transformers' truncation_side).
func TestTruncationSide(t *testing.T) {
	tok, err := tokenizer.FromJSON(bertTokenizerJSON())
	if err != nil {
		t.Fatal(err)
	}
	doc := []string{"the whale saw a ship, the captain found the sea."}
	for side, want := range map[string]string{"right": "[CLS] the whale saw [SEP]", "left": "[CLS] the sea. [SEP]"} {
		seqs, err := tokenizeClassification(tok, doc, 5, side)
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.Decode(seqs[0], false); got != want {
			t.Errorf("%s: %q, want %q", side, got, want)
		}
	}
}
