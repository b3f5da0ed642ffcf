package tokenizer

import (
	"encoding/json"
	"errors"
	"flag"
	"testing"

	"github.com/golora/golora/data/text"
)

var imdbAll = flag.Bool("imdb-all", false, "TestIMDBWholeReviews: all 10,000 reviews, not 2,000")

// TestIMDBWholeReviews encodes whole IMDB reviews with GPT-2 and
// bert-base-uncased and compares hashes of the ids, per block of 100
// reviews, with tokenizers.js's (gen.mjs): 2,000 reviews (1,000 negative,
// 1,000 positive), or all 10,000 of the reference with -imdb-all. It needs
// the npm corpora (data/text) and skips without them.
func TestIMDBWholeReviews(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	reviews, err := text.IMDB()
	if errors.Is(err, text.ErrNotInstalled) {
		t.Skipf("IMDB not installed: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		IMDB struct {
			Block  int                `json:"block"`
			Hashes map[string][]int64 `json:"hashes"`
		} `json:"imdb"`
	}
	if err := json.Unmarshal(readGz(t, "expected.json.gz"), &ref); err != nil {
		t.Fatal(err)
	}
	// The reference covers reviews 0-4999 and 25000-29999, in blocks of 100.
	per := 5000
	if !*imdbAll {
		per = 1000
	}
	var texts []string
	var blocks []int // reference block of each checked block
	for _, base := range []int{0, 25000} {
		for i := base; i < base+per; i++ {
			texts = append(texts, reviews[i].Text)
		}
		for b := 0; b < per/ref.IMDB.Block; b++ {
			blocks = append(blocks, base/25000*(5000/ref.IMDB.Block)+b)
		}
	}
	for _, name := range []string{"gpt2", "bert-base-uncased"} {
		want := ref.IMDB.Hashes[name]
		if len(want) != 10000/ref.IMDB.Block {
			t.Fatalf("%s: %d reference hashes", name, len(want))
		}
		encs, err := refTok(t, name).EncodeBatch(texts, true)
		if err != nil {
			t.Fatal(err)
		}
		var h uint32
		for k, e := range encs {
			for _, id := range e.IDs {
				h = h*1000003 + uint32(id) + 1
			}
			if (k+1)%ref.IMDB.Block == 0 {
				if b := blocks[k/ref.IMDB.Block]; int64(h) != want[b] {
					t.Errorf("%s: reviews of reference block %d differ from tokenizers.js", name, b)
				}
				h = 0
			}
		}
	}
}
