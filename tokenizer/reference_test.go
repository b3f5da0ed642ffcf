package tokenizer

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// The fixtures come from testdata/tokenizer/gen.mjs (tokenizers.js).
var fixtureDir = filepath.Join("..", "testdata", "tokenizer")

func readGz(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type refSingle struct {
	IDs            []int32  `json:"ids"`
	Tokens         []string `json:"tokens"`
	IDsSpecial     []int32  `json:"ids_special"`
	TypeIDsSpecial []int32  `json:"type_ids_special"`
	Decode         *string  `json:"decode"` // null where tokenizers.js is known to differ (see gen.mjs)
	DecodeSpecial  *string  `json:"decode_special"`
	DecodeSkip     *string  `json:"decode_skip"`
}

type refPair struct {
	IDs          []int32 `json:"ids"`
	TypeIDs      []int32 `json:"type_ids"`
	IDsPlain     []int32 `json:"ids_plain"`
	TypeIDsPlain []int32 `json:"type_ids_plain"`
}

type refTokenizer struct {
	Base   string                     `json:"base"`
	Patch  map[string]json.RawMessage `json:"patch"`
	Single []refSingle                `json:"single"`
	Pair   []*refPair                 `json:"pair"`
}

type reference struct {
	SPBase     json.RawMessage            `json:"sp_base"`
	SmallBases map[string]json.RawMessage `json:"small_bases"`
	Texts      []string                   `json:"texts"`
	Pairs      [][2]string                `json:"pairs"`
	Tokenizers map[string]*refTokenizer   `json:"tokenizers"`
}

var (
	refOnce sync.Once
	refData reference
	bases   = map[string][]byte{}
)

func loadReference(t testing.TB) *reference {
	refOnce.Do(func() {
		if err := json.Unmarshal(readGz(t, "expected.json.gz"), &refData); err != nil {
			t.Fatal(err)
		}
		bases["gpt2"] = readGz(t, "gpt2.json.gz")
		bases["bert-base-uncased"] = readGz(t, "bert-base-uncased.json.gz")
		bases["trained-bpe"] = readGz(t, "trained-bpe.json.gz")
		bases["sp-bpe"] = refData.SPBase
		for k, v := range refData.SmallBases {
			bases[k] = v
		}
	})
	if refData.Tokenizers == nil {
		t.Fatal("reference not loaded")
	}
	return &refData
}

// patched replaces top-level fields of a base tokenizer.json, and sets the
// fields of patch["model_fields"] inside model, as gen.mjs does.
func patched[V ~[]byte](t testing.TB, base []byte, patch map[string]V) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(base, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range patch {
		if k == "model_fields" {
			var model, fields map[string]json.RawMessage
			if err := json.Unmarshal(m["model"], &model); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(v, &fields); err != nil {
				t.Fatal(err)
			}
			for f, fv := range fields {
				model[f] = fv
			}
			b, _ := json.Marshal(model)
			m["model"] = b
			continue
		}
		m[k] = json.RawMessage(v)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var tokCache sync.Map

func refTok(t testing.TB, name string) *Tokenizer {
	if tk, ok := tokCache.Load(name); ok {
		return tk.(*Tokenizer)
	}
	ref := loadReference(t)
	rt := ref.Tokenizers[name]
	tk, err := FromJSON(patched(t, bases[rt.Base], rt.Patch))
	if err != nil {
		t.Fatal(err)
	}
	tokCache.Store(name, tk)
	return tk
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func TestReferenceIDs(t *testing.T) {
	ref := loadReference(t)
	for name, rt := range ref.Tokenizers {
		t.Run(name, func(t *testing.T) {
			tk := refTok(t, name)
			for i, text := range ref.Texts {
				want := rt.Single[i]
				e, err := tk.Encode(text, false)
				if err != nil {
					t.Fatalf("text %d: %v", i, err)
				}
				if !reflect.DeepEqual(nonNil(e.IDs), nonNil(want.IDs)) {
					t.Errorf("text %d %q:\n got %v %q\nwant %v %q", i, short(text), e.IDs, e.Tokens, want.IDs, want.Tokens)
					continue
				}
				es, err := tk.Encode(text, true)
				if err != nil {
					t.Fatalf("text %d: %v", i, err)
				}
				if !reflect.DeepEqual(nonNil(es.IDs), nonNil(want.IDsSpecial)) {
					t.Errorf("text %d %q with specials:\n got %v\nwant %v", i, short(text), es.IDs, want.IDsSpecial)
				}
				if want.TypeIDsSpecial != nil && !reflect.DeepEqual(nonNil(es.TypeIDs), nonNil(want.TypeIDsSpecial)) {
					t.Errorf("text %d %q type ids:\n got %v\nwant %v", i, short(text), es.TypeIDs, want.TypeIDsSpecial)
				}
				if want.Decode == nil {
					// Byte fallback keeps every byte, U+FEFF included: the text comes back.
					if got := tk.Decode(e.IDs, true); got != text {
						t.Errorf("text %d decode:\n got %q\nwant %q", i, got, text)
					}
					continue
				}
				if got := tk.Decode(e.IDs, false); got != *want.Decode {
					t.Errorf("text %d decode:\n got %q\nwant %q", i, got, *want.Decode)
				}
				if got := tk.Decode(es.IDs, false); got != *want.DecodeSpecial {
					t.Errorf("text %d decode with specials:\n got %q\nwant %q", i, got, *want.DecodeSpecial)
				}
				if got := tk.Decode(es.IDs, true); got != *want.DecodeSkip {
					t.Errorf("text %d decode skipping specials:\n got %q\nwant %q", i, got, *want.DecodeSkip)
				}
			}
			for i, p := range ref.Pairs {
				want := rt.Pair[i]
				if want == nil {
					want = composePair(t, name, tk, p)
				}
				e, err := tk.EncodePair(p[0], p[1], true)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(nonNil(e.IDs), nonNil(want.IDs)) || (want.TypeIDs != nil && !reflect.DeepEqual(nonNil(e.TypeIDs), nonNil(want.TypeIDs))) {
					t.Errorf("pair %d:\n got %v %v\nwant %v %v", i, e.IDs, e.TypeIDs, want.IDs, want.TypeIDs)
				}
				e, err = tk.EncodePair(p[0], p[1], false)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(nonNil(e.IDs), nonNil(want.IDsPlain)) || (want.TypeIDsPlain != nil && !reflect.DeepEqual(nonNil(e.TypeIDs), nonNil(want.TypeIDsPlain))) {
					t.Errorf("pair %d without specials:\n got %v %v\nwant %v %v", i, e.IDs, e.TypeIDs, want.IDsPlain, want.TypeIDsPlain)
				}
			}
		})
	}
}

func short(s string) string {
	if len(s) > 60 {
		return fmt.Sprintf("%s...(%d bytes)", s[:60], len(s))
	}
	return s
}

// composePair builds the expected pair encoding from the two texts' own
// (reference-checked) encodings by the Rust library's post-processor rules,
// for the pairs tokenizers.js does not handle as Rust does (see gen.mjs).
func composePair(t *testing.T, name string, tk *Tokenizer, p [2]string) *refPair {
	ea, err := tk.Encode(p[0], false)
	if err != nil {
		t.Fatal(err)
	}
	eb, err := tk.Encode(p[1], false)
	if err != nil {
		t.Fatal(err)
	}
	a, b := ea.IDs, eb.IDs
	fill := func(v int32, n int) []int32 {
		s := make([]int32, n)
		for i := range s {
			s[i] = v
		}
		return s
	}
	cat := func(parts ...[]int32) []int32 {
		var out []int32
		for _, x := range parts {
			out = append(out, x...)
		}
		return out
	}
	r := &refPair{IDsPlain: cat(a, b), TypeIDsPlain: cat(fill(0, len(a)), fill(1, len(b)))}
	switch name {
	case "gpt2", "trained-bpe", "bpe-suffix", "bpe-prefix": // ByteLevel or no processor: the two merged
		r.IDs, r.TypeIDs = r.IDsPlain, r.TypeIDsPlain
	case "gpt2-roberta": // <s> A </s> </s> B </s>, every type id 0
		r.IDs = cat([]int32{50257}, a, []int32{50258, 50258}, b, []int32{50258})
		r.TypeIDs = fill(0, len(r.IDs))
		r.TypeIDsPlain = fill(0, len(r.IDsPlain))
	case "gpt2-bos", "gpt2-llama3", "sp-legacy", "sp-metaspace": // bos A bos:1 B:1
		bos := int32(50256)
		if strings.HasPrefix(name, "sp-") {
			bos = 1
		}
		r.IDs = cat([]int32{bos}, a, []int32{bos}, b)
		r.TypeIDs = cat(fill(0, len(a)+1), fill(1, len(b)+1))
	default: // BERT: [CLS] A [SEP] B:1 [SEP]:1
		r.IDs = cat([]int32{101}, a, []int32{102}, b, []int32{102})
		r.TypeIDs = cat(fill(0, len(a)+2), fill(1, len(b)+1))
	}
	return r
}
