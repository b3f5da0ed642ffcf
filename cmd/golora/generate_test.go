package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/models/llama"
	"github.com/golora/golora/tokenizer"
)

// metaspaceTokenizerJSON is a Llama-2-style tokenizer (Metaspace
// pre-tokenizer and decoder, which drop the first space of a decoded text)
// whose word tokens 3-7 start a word ("▁a" … "▁e").
const metaspaceTokenizerJSON = `{"added_tokens":[
 {"id":0,"content":"<unk>","special":true,"lstrip":false,"rstrip":false,"single_word":false,"normalized":false},
 {"id":1,"content":"<s>","special":true,"lstrip":false,"rstrip":false,"single_word":false,"normalized":false},
 {"id":2,"content":"</s>","special":true,"lstrip":false,"rstrip":false,"single_word":false,"normalized":false}],
 "model":{"type":"BPE","unk_token":"<unk>","vocab":{"<unk>":0,"<s>":1,"</s>":2,"▁a":3,"▁b":4,"▁c":5,"▁d":6,"▁e":7,
  "▁":8,"a":9,"b":10,"c":11,"d":12,"e":13},"merges":["▁ a","▁ b","▁ c","▁ d","▁ e"]},
 "pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true},
 "decoder":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true}}`

// TestGenerateKeepsFirstSpace: the printed text is the prompt and the
// generation decoded together (transformers' TextStreamer), not the prompt
// followed by the generation decoded alone, which under Metaspace loses
// the space before the first new word ("Call meIshmael").
func TestGenerateKeepsFirstSpace(t *testing.T) {
	tok, err := tokenizer.FromJSON([]byte(metaspaceTokenizerJSON))
	if err != nil {
		t.Fatal(err)
	}
	prompt, _ := tok.Encode("a b", false)
	if got := tok.Decode(append(prompt.IDs, 5), true); got != "a b c" {
		t.Fatalf("the tokenizer decodes %q, want %q", got, "a b c")
	}
	if got := tok.Decode([]int32{5}, true); got != "c" {
		t.Fatalf("a lone word decodes %q, want %q (its space dropped)", got, "c")
	}
	if got := continuation(tok, prompt.IDs, []int32{5, 6}); got != " c d" {
		t.Errorf("continuation %q, want %q", got, " c d")
	}

	dir := t.TempDir()
	cfg := llama.DefaultConfig()
	cfg.VocabSize, cfg.HiddenSize, cfg.IntermediateSize, cfg.NumHiddenLayers = 14, 8, 16, 1
	cfg.NumAttentionHeads, cfg.NumKeyValueHeads, cfg.MaxPositionEmbeddings = 2, 1, 16
	cfg.EOSTokenIDs = []int{2}
	m, err := llama.New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, TokenizerFile), []byte(metaspaceTokenizerJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"generate", "--model", dir, "--prompt", "a b", "--max-new-tokens", "4"}
	code, js, errs := golora(append(args, "--json")...)
	if code != 0 {
		t.Fatalf("generate --json: exit %d, %s", code, errs)
	}
	var g struct {
		IDs  []int32 `json:"generated_ids"`
		Text string  `json:"text"`
	}
	if err := json.Unmarshal([]byte(js), &g); err != nil {
		t.Fatal(err)
	}
	if len(g.IDs) == 0 || g.IDs[0] < 3 || g.IDs[0] > 7 {
		t.Fatalf("the seeded model starts with id %v, not a word: the test needs another seed", g.IDs)
	}
	want := tok.Decode(append(prompt.IDs, g.IDs...), true)
	if g.Text != strings.TrimPrefix(want, "a b") || !strings.HasPrefix(g.Text, " ") {
		t.Errorf("JSON text %q, want the continuation of %q", g.Text, want)
	}
	code, out, errs := golora(args...)
	if code != 0 || strings.TrimSuffix(out, "\n") != want {
		t.Errorf("generate printed %q (exit %d, %s), want %q", out, code, errs, want)
	}
}

// TestPadID: text batches are padded with the tokenizer's pad token, else
// the model's eos (transformers users' pad_token = eos_token); a causal
// LM's config keeps a null pad_token_id (recordPad is for classifiers).
func TestPadID(t *testing.T) {
	withPad, err := tokenizer.FromJSON([]byte(metaspaceTokenizerJSON)) // "</s>" is a pad spelling
	if err != nil {
		t.Fatal(err)
	}
	noPad, err := tokenizer.FromJSON([]byte(strings.ReplaceAll(metaspaceTokenizerJSON, "</s>", "<end>")))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tok  *tokenizer.Tokenizer
		eos  []int
		want int32
		ok   bool
	}{
		{withPad, []int{7}, 2, true},
		{noPad, []int{7, 6}, 7, true},
		{noPad, nil, 0, false},
	} {
		if id, ok := padID(tc.tok, tc.eos); id != tc.want || ok != tc.ok {
			t.Errorf("eos %v: pad %d, %v; want %d, %v", tc.eos, id, ok, tc.want, tc.ok)
		}
	}
	cfg := llama.DefaultConfig()
	cfg.VocabSize, cfg.HiddenSize, cfg.IntermediateSize, cfg.NumHiddenLayers = 14, 8, 16, 1
	cfg.NumAttentionHeads, cfg.NumKeyValueHeads, cfg.MaxPositionEmbeddings = 2, 1, 16
	m, err := llama.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := recordPad(m, withPad, nil); err != nil {
		t.Fatal(err)
	}
	if id, set := m.PadToken(); set {
		t.Errorf("a causal LM got pad_token_id %d", id)
	}
	if err := m.SetPadToken(14); err == nil {
		t.Error("a pad outside the vocabulary accepted")
	}
}
