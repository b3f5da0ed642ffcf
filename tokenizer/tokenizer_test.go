package tokenizer

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func bert(t *testing.T) *Tokenizer { return refTok(t, "bert-base-uncased") }

func encode(t *testing.T, tk *Tokenizer, a string, b *string) *Encoding {
	t.Helper()
	var e *Encoding
	var err error
	if b == nil {
		e, err = tk.Encode(a, true)
	} else {
		e, err = tk.EncodePair(a, *b, true)
	}
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The tokenizers library's truncate_encodings, worked by hand: max_length
// counts the 3 special tokens of a BERT pair, LongestFirst cuts the longer
// text first, OnlyFirst/OnlySecond only one.
func TestTruncation(t *testing.T) {
	tk := FromJSONMust(t, bert(t).JSON())
	a := "one two three four five six seven" // 7 tokens
	b := "alpha beta gamma"                  // 3 tokens
	ids := func(s string) []int32 {
		e, _ := tk.Encode(s, false)
		return e.IDs
	}
	A, B := ids(a), ids(b)
	cat := func(parts ...[]int32) []int32 {
		var out []int32
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, c := range []struct {
		tr   Truncation
		want []int32
		err  string
	}{
		{Truncation{Direction: Right, MaxLength: 9, Strategy: LongestFirst}, cat([]int32{101}, A[:3], []int32{102}, B, []int32{102}), ""},
		{Truncation{Direction: Right, MaxLength: 7, Strategy: LongestFirst}, cat([]int32{101}, A[:2], []int32{102}, B[:2], []int32{102}), ""},
		{Truncation{Direction: Left, MaxLength: 9, Strategy: LongestFirst}, cat([]int32{101}, A[4:], []int32{102}, B, []int32{102}), ""},
		{Truncation{Direction: Right, MaxLength: 9, Strategy: OnlyFirst}, cat([]int32{101}, A[:3], []int32{102}, B, []int32{102}), ""},
		{Truncation{Direction: Right, MaxLength: 12, Strategy: OnlySecond}, cat([]int32{101}, A, []int32{102}, B[:2], []int32{102}), ""},
		{Truncation{Direction: Right, MaxLength: 9, Strategy: OnlySecond}, nil, "second sequence is not long enough"},
		{Truncation{Direction: Right, MaxLength: 2, Strategy: LongestFirst}, nil, "smaller than the 3 special tokens"},
		{Truncation{Direction: Right, MaxLength: 9, Strategy: LongestFirst, Stride: 6}, nil, "stride"},
	} {
		tr := c.tr
		tk.Truncation = &tr
		e, err := tk.EncodePair(a, b, true)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%+v: error %v, want %q", c.tr, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", c.tr, err)
		}
		if !reflect.DeepEqual(e.IDs, c.want) {
			t.Errorf("%+v:\n got %v\nwant %v", c.tr, e.IDs, c.want)
		}
	}
	// A single text: max_length 5 keeps [CLS] + 3 + [SEP].
	tk.Truncation = &Truncation{Direction: Right, MaxLength: 5, Strategy: LongestFirst}
	e := encode(t, tk, a, nil)
	if want := cat([]int32{101}, A[:3], []int32{102}); !reflect.DeepEqual(e.IDs, want) {
		t.Errorf("single: got %v, want %v", e.IDs, want)
	}
	// Without special tokens the whole budget goes to the text.
	e, _ = tk.Encode(a, false)
	if !reflect.DeepEqual(e.IDs, A[:5]) {
		t.Errorf("no specials: got %v", e.IDs)
	}
}

func FromJSONMust(t *testing.T, b []byte) *Tokenizer {
	t.Helper()
	tk, err := FromJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestPaddingAndBatch(t *testing.T) {
	tk := FromJSONMust(t, bert(t).JSON())
	texts := []string{"a b c d", "hello", ""}
	single := make([]*Encoding, len(texts))
	for i, s := range texts {
		single[i] = encode(t, tk, s, nil)
	}
	tk.Padding = &Padding{Strategy: PaddingStrategy{BatchLongest: true}, Direction: Right, PadID: 0, PadToken: "[PAD]", PadToMultipleOf: 4}
	batch, err := tk.EncodeBatch(texts, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range batch {
		if e.Len() != 8 { // longest is 6, rounded up to 8
			t.Fatalf("item %d: length %d, want 8", i, e.Len())
		}
		n := single[i].Len()
		if !reflect.DeepEqual(e.IDs[:n], single[i].IDs) {
			t.Errorf("item %d: %v vs %v", i, e.IDs, single[i].IDs)
		}
		for j := 0; j < e.Len(); j++ {
			real := j < n
			if (e.AttentionMask[j] == 1) != real || (!real && (e.IDs[j] != 0 || e.Tokens[j] != "[PAD]" || e.SpecialTokensMask[j] != 1)) {
				t.Fatalf("item %d position %d: id %d mask %d", i, j, e.IDs[j], e.AttentionMask[j])
			}
		}
	}
	tk.Padding = &Padding{Strategy: PaddingStrategy{Fixed: 10}, Direction: Left, PadID: 0, PadTypeID: 1, PadToken: "[PAD]"}
	e := encode(t, tk, "hello", nil)
	want := []int32{0, 0, 0, 0, 0, 0, 0, 101, 7592, 102}
	if !reflect.DeepEqual(e.IDs, want) || e.TypeIDs[0] != 1 || e.AttentionMask[6] != 0 || e.AttentionMask[7] != 1 {
		t.Errorf("fixed left: %v %v %v", e.IDs, e.TypeIDs, e.AttentionMask)
	}
	// Pairs in a batch.
	tk.Padding = &Padding{Strategy: PaddingStrategy{BatchLongest: true}, Direction: Right, PadToken: "[PAD]"}
	pb, err := tk.EncodeBatchPairs([][2]string{{"q", "a b c"}, {"q q", "a"}}, true)
	if err != nil || pb[0].Len() != pb[1].Len() || pb[0].Len() != 7 {
		t.Fatalf("pairs: %v", err)
	}
	if !reflect.DeepEqual(pb[1].TypeIDs, []int32{0, 0, 0, 0, 1, 1, 0}) {
		t.Errorf("pair type ids %v", pb[1].TypeIDs)
	}
}

func TestPaddingFromJSON(t *testing.T) {
	b := patched(t, bert(t).JSON(), map[string][]byte{
		"padding":    []byte(`{"strategy":{"Fixed":6},"direction":"Right","pad_to_multiple_of":null,"pad_id":0,"pad_type_id":0,"pad_token":"[PAD]"}`),
		"truncation": []byte(`{"direction":"Right","max_length":6,"strategy":"LongestFirst","stride":0}`),
	})
	tk := FromJSONMust(t, b)
	for _, s := range []string{"hi", "one two three four five six seven eight"} {
		e := encode(t, tk, s, nil)
		if e.Len() != 6 || e.IDs[0] != 101 {
			t.Errorf("%q: %v", s, e.IDs)
		}
	}
}

func TestRefusesUnsupported(t *testing.T) {
	base := bert(t).JSON()
	for _, c := range []struct {
		key, val, want string
	}{
		{"model", `{"type":"Unigram","vocab":[["a",0]]}`, `model "Unigram" is not supported`},
		{"normalizer", `{"type":"Precompiled","precompiled_charsmap":""}`, `normalizer "Precompiled" is not supported`},
		{"pre_tokenizer", `{"type":"Digits","individual_digits":true}`, `pre_tokenizer "Digits" is not supported`},
		{"pre_tokenizer", `{"type":"Split","pattern":{"Regex":"\\d+"},"behavior":"Isolated","invert":false}`, `pre_tokenizer Split`},
		{"decoder", `{"type":"CTC"}`, `decoder "CTC" is not supported`},
		{"post_processor", `{"type":"Weird"}`, `post_processor "Weird" is not supported`},
		{"model", `{"type":"BPE","dropout":0.1,"vocab":{"a":0},"merges":[]}`, "dropout"},
		{"model", `{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a c"]}`, "missing from the vocabulary"},
		{"model", `{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a b"]}`, `result "ab" is not in the vocabulary`},
		{"model", `{"type":"WordPiece","vocab":{}}`, "empty vocab"},
		{"model", `{"type":"WordPiece","vocab":{"a":0,"b":0}}`, "share id 0"},
		{"padding", `{"strategy":"Sometimes"}`, "padding: strategy"},
		{"truncation", `{"max_length":5,"strategy":"Random"}`, "unknown strategy"},
	} {
		_, err := FromJSON(patched(t, base, map[string][]byte{c.key: []byte(c.val)}))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: error %v, want %q", c.key, c.val, err, c.want)
		}
	}
	if _, err := FromJSON([]byte("{not json")); err == nil {
		t.Error("malformed JSON accepted")
	}
	if _, err := Load("does-not-exist.json"); err == nil {
		t.Error("missing file accepted")
	}
}

func TestWordPieceUnkMissing(t *testing.T) {
	tk := FromJSONMust(t, []byte(`{"model":{"type":"WordPiece","unk_token":"[UNK]","vocab":{"a":0,"##b":1}},"pre_tokenizer":{"type":"WhitespaceSplit"}}`))
	e, err := tk.Encode("ab a", false)
	if err != nil || !reflect.DeepEqual(e.IDs, []int32{0, 1, 0}) {
		t.Fatalf("%v %v", e, err)
	}
	if _, err := tk.Encode("c", false); err == nil || !strings.Contains(err.Error(), "not in the vocabulary") {
		t.Errorf("unknown word without [UNK]: %v", err)
	}
}

// Added-token flags, on a small vocabulary whose ids are easy to read.
func TestAddedTokenFlags(t *testing.T) {
	tk := FromJSONMust(t, []byte(`{
	 "added_tokens":[
	  {"id":10,"content":"<m>","single_word":false,"lstrip":true,"rstrip":true,"normalized":false,"special":true},
	  {"id":11,"content":"sw","single_word":true,"lstrip":false,"rstrip":false,"normalized":false,"special":false},
	  {"id":12,"content":"XY","single_word":false,"lstrip":false,"rstrip":false,"normalized":true,"special":false},
	  {"id":13,"content":"<mm>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
	 "normalizer":{"type":"Lowercase"},
	 "pre_tokenizer":{"type":"WhitespaceSplit"},
	 "model":{"type":"WordPiece","unk_token":"[UNK]","vocab":{"[UNK]":0,"a":1,"s":2,"##w":3,"x":4,"##y":5,"sw":6,"##s":7}}}`))
	for _, c := range []struct {
		in   string
		want []int32
	}{
		{"a  <m>  a", []int32{1, 10, 1}}, // lstrip/rstrip eat the spaces
		{"sw a", []int32{11, 1}},         // single word: matched
		{"ssw a", []int32{2, 7, 3, 1}},   // inside a word: not the added token (ss##w? greedy: s, ##s, ##w)
		{"a xy XY", []int32{1, 12, 12}},  // normalized token matched after lowercasing
		{"<mm><m>", []int32{13, 10}},     // longest match first
	} {
		e, err := tk.Encode(c.in, false)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(e.IDs, c.want) {
			t.Errorf("%q: got %v %q, want %v", c.in, e.IDs, e.Tokens, c.want)
		}
	}
	if got := tk.Decode([]int32{1, 10, 11, 13}, true); got != "a sw" {
		t.Errorf("decode skipping specials: %q", got)
	}
}

func TestLossyUTF8(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ok", "ok"},
		{"\xe2\x82", "\uFFFD"},                 // truncated 3-byte sequence: one U+FFFD
		{"\xe2\x82x", "\uFFFDx"},               //
		{"\xff\xfe", "\uFFFD\uFFFD"},           // two invalid bytes
		{"\xf0\x9f\x98", "\uFFFD"},             // truncated emoji
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // surrogate: E0 A0 is not a valid prefix after ED
		{"a\xc3", "a\uFFFD"},
	} {
		if got := string(appendLossyUTF8(nil, []byte(c.in))); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestGPT2SplitEdgeCases(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"a  b", []string{"a", " ", " b"}},
		{"a \n b", []string{"a", " \n", " b"}},
		{"x   ", []string{"x", "   "}},
		{"it's", []string{"it", "'s"}},
		{"IT'S 'Sx", []string{"IT", "'", "S", " '", "Sx"}}, // contractions are case-sensitive
		{"?'s", []string{"?'", "s"}},
		{"a\u0085b", []string{"a", "\u0085", "b"}}, // NEL is White_Space for Oniguruma
		{"12ab", []string{"12", "ab"}},
	} {
		var got []string
		splitGPT2(c.in, func(p string) { got = append(got, p) })
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestIDs(t *testing.T) {
	tk := refTok(t, "gpt2")
	texts := []string{"Hello world", "", "a <|endoftext|> b"}
	got, err := tk.IDsBatch(texts, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range texts {
		e := encode(t, tk, s, nil)
		if !reflect.DeepEqual(nonNil(got[i]), nonNil(e.IDs)) {
			t.Errorf("%q: IDs %v, Encode %v", s, got[i], e.IDs)
		}
	}
}

// A BPE with a continuing-subword prefix (tokenizers.js ignores the field,
// so this is worked by hand from the Rust rules): every character but the
// first carries "##", and a merge's result drops the prefix of its right
// part.
func TestBPEContinuingSubwordPrefix(t *testing.T) {
	ref := loadReference(t)
	tk := FromJSONMust(t, ref.SmallBases["bpe-prefix"])
	id := func(s string) int32 {
		v, ok := tk.TokenToID(s)
		if !ok {
			t.Fatalf("%q not in the vocabulary", s)
		}
		return v
	}
	e, err := tk.Encode("The world hello x", false)
	if err != nil {
		t.Fatal(err)
	}
	want := []int32{id("the"), id("world"), id("h"), id("##e"), id("##l"), id("##l"), id("##o"), id("x")}
	if !reflect.DeepEqual(e.IDs, want) {
		t.Fatalf("got %v %q, want %v", e.IDs, e.Tokens, want)
	}
	if got := tk.Decode(e.IDs, false); got != "the world hello x" {
		t.Errorf("decode %q", got)
	}
}

func TestLoadGzipAndPlain(t *testing.T) {
	tk, err := Load(filepath.Join(fixtureDir, "gpt2.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := tk.Save(plain); err != nil {
		t.Fatal(err)
	}
	tk2, err := Load(plain)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := tk.Encode("Hello world", false)
	b, _ := tk2.Encode("Hello world", false)
	if !reflect.DeepEqual(a.IDs, []int32{15496, 995}) || !reflect.DeepEqual(a.IDs, b.IDs) {
		t.Errorf("gz %v, plain %v", a.IDs, b.IDs)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte("\x1f\x8bnot gzip"), 0o644)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("corrupt gzip: %v", err)
	}
}
