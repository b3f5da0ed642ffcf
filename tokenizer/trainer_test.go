package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/tokenizer/trained-bpe.json.gz")

func trainingCorpus(t testing.TB) []string {
	return strings.Split(strings.TrimSuffix(string(readGz(t, "corpus.txt.gz")), "\n"), "\n")
}

var fixtureTrainer = BPETrainer{VocabSize: 2000, MinFrequency: 2, SpecialTokens: []string{"<|endoftext|>", "<pad>"}}

// TestTrainedFixture retrains the committed fixture, whose ids
// tokenizers.js produced (TestReferenceIDs), and checks it is byte-equal.
func TestTrainedFixture(t *testing.T) {
	tk, err := fixtureTrainer.TrainBPE(trainingCorpus(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(fixtureDir, "trained-bpe.json.gz")
	if *update {
		var b bytes.Buffer
		gz, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		gz.Write(tk.JSON())
		gz.Close()
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := tk.JSON(), readGz(t, "trained-bpe.json.gz"); !bytes.Equal(got, want) {
		t.Fatalf("retrained tokenizer.json differs from the fixture (%d vs %d bytes)", len(got), len(want))
	}
	if tk.VocabSize() != 2000 {
		t.Errorf("vocab size %d", tk.VocabSize())
	}
	if id, _ := tk.TokenToID("<pad>"); id != 1 {
		t.Errorf("<pad> id %d, want 1", id)
	}
	out := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := tk.Save(out); err != nil {
		t.Fatal(err)
	}
	back, err := Load(out)
	if err != nil || !bytes.Equal(back.JSON(), tk.JSON()) {
		t.Errorf("save and load: %v", err)
	}
}

// bruteForceMerges is an independent statement of BpeTrainer's rule:
// recount every pair from scratch, merge the most frequent (ties: the
// smallest ids), until the vocabulary is full.
func bruteForceMerges(t *testing.T, c BPETrainer, texts []string) [][2]string {
	counts := countWords(texts)
	var id2w []string
	w2id := map[string]int32{}
	add := func(s string) int32 {
		if id, ok := w2id[s]; ok {
			return id
		}
		w2id[s] = int32(len(id2w))
		id2w = append(id2w, s)
		return w2id[s]
	}
	for _, s := range c.SpecialTokens {
		add(s)
	}
	var runes []rune
	seen := map[rune]bool{}
	for b := 0; b < 256; b++ {
		seen[byteToRune[b]] = true
	}
	for w := range counts {
		for _, r := range w {
			seen[r] = true
		}
	}
	for r := range seen {
		runes = append(runes, r)
	}
	sort.Slice(runes, func(i, j int) bool { return runes[i] < runes[j] })
	for _, r := range runes {
		add(string(r))
	}
	type word struct {
		syms []int32
		n    int64
	}
	var words []word
	for w, n := range counts {
		var s []int32
		for _, r := range w {
			s = append(s, w2id[string(r)])
		}
		words = append(words, word{s, int64(n)})
	}
	var merges [][2]string
	for len(id2w) < c.VocabSize {
		pc := map[[2]int32]int64{}
		for _, w := range words {
			for k := 0; k+1 < len(w.syms); k++ {
				pc[[2]int32{w.syms[k], w.syms[k+1]}] += w.n
			}
		}
		var best [2]int32
		var bestN int64
		for p, n := range pc {
			if n > bestN || (n == bestN && (p[0] < best[0] || (p[0] == best[0] && p[1] < best[1]))) {
				best, bestN = p, n
			}
		}
		if bestN < 1 || bestN < int64(c.MinFrequency) {
			break
		}
		id := add(id2w[best[0]] + id2w[best[1]])
		merges = append(merges, [2]string{id2w[best[0]], id2w[best[1]]})
		for i := range words {
			s := words[i].syms
			var out []int32
			for k := 0; k < len(s); k++ {
				if k+1 < len(s) && s[k] == best[0] && s[k+1] == best[1] {
					out = append(out, id)
					k++
				} else {
					out = append(out, s[k])
				}
			}
			words[i].syms = out
		}
	}
	return merges
}

func TestTrainBPEMatchesBruteForce(t *testing.T) {
	texts := trainingCorpus(t)[:60]
	c := BPETrainer{VocabSize: 600, MinFrequency: 0, SpecialTokens: []string{"<s>"}}
	tk, err := c.TrainBPE(texts)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Model struct {
			Merges [][2]string `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(tk.JSON(), &f); err != nil {
		t.Fatal(err)
	}
	want := bruteForceMerges(t, c, texts)
	if !reflect.DeepEqual(f.Model.Merges, want) {
		n := 0
		for n < len(want) && n < len(f.Model.Merges) && f.Model.Merges[n] == want[n] {
			n++
		}
		t.Fatalf("merges differ from merge %d (got %d, want %d merges)", n, len(f.Model.Merges), len(want))
	}
	if tk.VocabSize() != 600 {
		t.Errorf("vocab size %d, want 600", tk.VocabSize())
	}
	// Byte-level: every text comes back exactly.
	for _, s := range append(texts[:5], "unseen ☃ text\twith\nnewlines 😀") {
		e, err := tk.Encode(s, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := tk.Decode(e.IDs, false); got != s {
			t.Fatalf("round trip:\n got %q\nwant %q", got, s)
		}
	}
}

func TestTrainBPEValidates(t *testing.T) {
	for _, c := range []BPETrainer{{VocabSize: 0}, {VocabSize: 10, MinFrequency: -1}, {VocabSize: 10, SpecialTokens: []string{"a", "a"}}, {VocabSize: 10, SpecialTokens: []string{""}}} {
		if _, err := c.TrainBPE([]string{"x"}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	// A vocabulary smaller than the alphabet keeps the alphabet and merges nothing.
	tk, err := BPETrainer{VocabSize: 10}.TrainBPE([]string{"aaaa"})
	if err != nil || tk.VocabSize() != 256 {
		t.Errorf("tiny vocab: %v, size %d", err, tk.VocabSize())
	}
}
