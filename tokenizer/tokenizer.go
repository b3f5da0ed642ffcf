package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/internal/sizecheck"
)

// A Tokenizer encodes text to token ids and decodes ids to text as the
// Hugging Face tokenizers library does for the same tokenizer.json. It is
// safe for concurrent use once configured.
type Tokenizer struct {
	norm  normalizer
	pre   preTokenizer
	model model
	post  postProcessor
	dec   decoder

	added      []AddedToken // by id
	addedByID  map[int32]*AddedToken
	addedByTok map[string]*AddedToken
	rawAdded   *addedMatcher // tokens matched on the raw text (normalized: false)
	normAdded  *addedMatcher // tokens matched on the normalized text

	// Truncation and Padding start as tokenizer.json sets them; set or clear
	// them to change how Encode and EncodeBatch cut and pad.
	Truncation *Truncation
	Padding    *Padding

	raw []byte // the JSON it was built from
}

// maxFileSize bounds what Load reads (uncompressed).
const maxFileSize = 1 << 30

// Load reads a tokenizer.json file (or a gzip-compressed one, by content).
// Files over 1 GiB (uncompressed), or larger than the memory available,
// are refused before they are read.
func Load(path string) (*Tokenizer, error) {
	data, err := sizecheck.ReadFile(path, maxFileSize)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		gz, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
		}
		data, err = io.ReadAll(io.LimitReader(gz, maxFileSize+1))
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
		}
		if len(data) > maxFileSize {
			return nil, fmt.Errorf("tokenizer: %s: more than %d bytes uncompressed", path, maxFileSize)
		}
	}
	t, err := FromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// FromJSON builds a Tokenizer from the contents of a tokenizer.json. A
// component golora does not implement is refused with an error naming it.
func FromJSON(data []byte) (*Tokenizer, error) {
	var f fileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("tokenizer: not a tokenizer.json: %v", err)
	}
	t := &Tokenizer{raw: data}
	var err error
	if t.norm, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if t.pre, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if t.model, err = parseModel(f.Model); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if t.post, err = parsePostProcessor(f.PostProcessor); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if t.dec, err = parseDecoder(f.Decoder); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if t.Truncation, err = parseTruncation(f.Truncation); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if t.Padding, err = parsePadding(f.Padding); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if err := t.setAdded(f.AddedTokens); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return t, nil
}

func (t *Tokenizer) setAdded(toks []AddedToken) error {
	t.added = sortedAdded(toks)
	t.addedByID = map[int32]*AddedToken{}
	t.addedByTok = map[string]*AddedToken{}
	var raw, normed []addedPattern
	for i := range t.added {
		a := &t.added[i]
		if a.Content == "" {
			return fmt.Errorf("added token %d has empty content", a.ID)
		}
		if a.ID < 0 {
			return fmt.Errorf("added token %q has negative id %d", a.Content, a.ID)
		}
		if old, dup := t.addedByID[a.ID]; dup {
			return fmt.Errorf("added tokens %q and %q share id %d", old.Content, a.Content, a.ID)
		}
		t.addedByID[a.ID] = a
		t.addedByTok[a.Content] = a
		if a.Normalized && t.norm != nil {
			normed = append(normed, addedPattern{text: t.norm.normalize(a.Content), tok: a})
		} else {
			raw = append(raw, addedPattern{text: a.Content, tok: a})
		}
	}
	t.rawAdded = newAddedMatcher(raw)
	t.normAdded = newAddedMatcher(normed)
	return nil
}

// VocabSize is one more than the largest token id, added tokens included:
// the number of rows an embedding matrix needs.
func (t *Tokenizer) VocabSize() int {
	n := len(t.model.vocab().tokens)
	for _, a := range t.added {
		if int(a.ID) >= n {
			n = int(a.ID) + 1
		}
	}
	return n
}

// TokenToID returns the id of a token (added tokens first, as HF).
func (t *Tokenizer) TokenToID(tok string) (int32, bool) {
	if a, ok := t.addedByTok[tok]; ok {
		return a.ID, true
	}
	id, ok := t.model.vocab().ids[tok]
	return id, ok
}

// IDToToken returns the token of an id.
func (t *Tokenizer) IDToToken(id int32) (string, bool) {
	if a, ok := t.addedByID[id]; ok {
		return a.Content, true
	}
	return t.model.vocab().token(id)
}

// AddedTokens returns tokenizer.json's added tokens, by id.
func (t *Tokenizer) AddedTokens() []AddedToken { return append([]AddedToken(nil), t.added...) }

// SpecialIDs returns the ids of the added tokens marked special.
func (t *Tokenizer) SpecialIDs() []int32 {
	var ids []int32
	for _, a := range t.added {
		if a.Special {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

// JSON returns the tokenizer.json this tokenizer was built from (without
// later changes to Truncation or Padding).
func (t *Tokenizer) JSON() []byte { return append([]byte(nil), t.raw...) }

// Save writes JSON() to path atomically (a temporary file, synced, then
// renamed), e.g. a trained tokenizer as tokenizer.json.
func (t *Tokenizer) Save(path string) error {
	err := atomicfile.WriteFile(path, func(w io.Writer) error {
		_, err := w.Write(t.raw)
		return err
	}, 0o644)
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	return nil
}

// encodeSequence runs added-token extraction, normalization,
// pre-tokenization and the model over one text.
func (t *Tokenizer) encodeSequence(text string, typeID int32) (*Encoding, error) {
	e := &Encoding{}
	if n := len(text)/4 + 4; n > 0 { // about 4 bytes a token in English
		e.IDs = make([]int32, 0, n)
		e.TypeIDs = make([]int32, 0, n)
		e.Tokens = make([]string, 0, n)
		e.AttentionMask = make([]int32, 0, n)
		e.SpecialTokensMask = make([]int32, 0, n)
	}
	voc := t.model.vocab()
	var ids []int32
	var words []string
	addModel := func(piece string, first bool) error {
		words = words[:0]
		if t.pre != nil {
			words = t.pre.preTokenize(words, piece, first)
		} else {
			words = append(words, piece)
		}
		for _, w := range words {
			var err error
			ids, err = t.model.tokenize(ids[:0], w)
			if err != nil {
				return err
			}
			for _, id := range ids {
				tok, _ := voc.token(id)
				if a, ok := t.addedByID[id]; ok && tok == "" {
					tok = a.Content
				}
				e.appendToken(id, typeID, tok, 0)
			}
		}
		return nil
	}
	segs := t.rawAdded.split(nil, text)
	var subs []segment
	for k, seg := range segs {
		if seg.tok != nil {
			e.appendToken(seg.tok.ID, typeID, seg.tok.Content, 0)
			continue
		}
		s := seg.text
		if t.norm != nil {
			s = t.norm.normalize(s)
		}
		subs = t.normAdded.split(subs[:0], s)
		for j, sub := range subs {
			if sub.tok != nil {
				e.appendToken(sub.tok.ID, typeID, sub.tok.Content, 0)
				continue
			}
			if sub.text == "" {
				continue
			}
			if err := addModel(sub.text, k == 0 && j == 0); err != nil {
				return nil, err
			}
		}
	}
	return e, nil
}

// Encode encodes one text. addSpecial asks the post-processor for the
// special tokens ([CLS] ... [SEP], <s> ... </s>); truncation and padding
// apply as set.
func (t *Tokenizer) Encode(text string, addSpecial bool) (*Encoding, error) {
	return t.encode(text, nil, addSpecial, true)
}

// EncodePair encodes a pair of texts (question and context, premise and
// hypothesis); the second gets type id 1 where the post-processor says so.
func (t *Tokenizer) EncodePair(a, b string, addSpecial bool) (*Encoding, error) {
	return t.encode(a, &b, addSpecial, true)
}

func (t *Tokenizer) encode(a string, b *string, addSpecial, pad bool) (*Encoding, error) {
	ea, err := t.encodeSequence(a, 0)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var eb *Encoding
	if b != nil {
		if eb, err = t.encodeSequence(*b, 1); err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	if tr := t.Truncation; tr != nil {
		if err := tr.validate(); err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		maxLen := tr.MaxLength
		if addSpecial && t.post != nil {
			n := t.post.addedTokens(b != nil)
			if n > maxLen {
				return nil, fmt.Errorf("tokenizer: truncation max_length %d is smaller than the %d special tokens", maxLen, n)
			}
			maxLen -= n
		}
		if err := truncatePair(ea, eb, maxLen, tr); err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	var out *Encoding
	if t.post != nil {
		out = t.post.process(ea, eb, addSpecial)
	} else {
		out = defaultProcess(ea, eb)
	}
	if pad && t.Padding != nil {
		if err := t.Padding.validate(); err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		padEncodings([]*Encoding{out}, t.Padding)
	}
	return out, nil
}

// EncodeBatch encodes texts on all cores; with Padding set, the results are
// padded together (BatchLongest: to the longest of the batch).
func (t *Tokenizer) EncodeBatch(texts []string, addSpecial bool) ([]*Encoding, error) {
	return t.encodeBatch(len(texts), func(i int) (*Encoding, error) {
		return t.encode(texts[i], nil, addSpecial, true)
	})
}

// EncodeBatchPairs is EncodeBatch for pairs of texts.
func (t *Tokenizer) EncodeBatchPairs(pairs [][2]string, addSpecial bool) ([]*Encoding, error) {
	return t.encodeBatch(len(pairs), func(i int) (*Encoding, error) {
		return t.encode(pairs[i][0], &pairs[i][1], addSpecial, true)
	})
}

func (t *Tokenizer) encodeBatch(n int, one func(i int) (*Encoding, error)) ([]*Encoding, error) {
	return t.encodeBatchFunc(n, true, one)
}

func (t *Tokenizer) encodeBatchFunc(n int, pad bool, one func(i int) (*Encoding, error)) ([]*Encoding, error) {
	out := make([]*Encoding, n)
	errs := make([]error, n)
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	var wg sync.WaitGroup
	var next int
	var mu sync.Mutex
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				out[i], errs[i] = one(i)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("batch item %d: %w", i, err)
		}
	}
	if pad && t.Padding != nil {
		padEncodings(out, t.Padding)
	}
	return out, nil
}

// IDs encodes one text and keeps only the ids (no tokens, type ids or
// masks): the lean path for tokenizing a corpus. Truncation applies,
// padding does not.
func (t *Tokenizer) IDs(text string, addSpecial bool) ([]int32, error) {
	e, err := t.encode(text, nil, addSpecial, false)
	if err != nil {
		return nil, err
	}
	return e.IDs[:len(e.IDs):len(e.IDs)], nil
}

// IDsBatch is IDs over many texts, on all cores.
func (t *Tokenizer) IDsBatch(texts []string, addSpecial bool) ([][]int32, error) {
	out := make([][]int32, len(texts))
	_, err := t.encodeBatchFunc(len(texts), false, func(i int) (*Encoding, error) {
		ids, err := t.IDs(texts[i], addSpecial)
		out[i] = ids
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Decode turns ids back into text through the decoder, as the tokenizers
// library's decode: ids with no token are skipped, and skipSpecial drops
// the added tokens marked special. (transformers' extra
// clean_up_tokenization_spaces step is CleanUpTokenization.)
func (t *Tokenizer) Decode(ids []int32, skipSpecial bool) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if a, ok := t.addedByID[id]; ok {
			if skipSpecial && a.Special {
				continue
			}
			toks = append(toks, a.Content)
			continue
		}
		tok, ok := t.model.vocab().token(id)
		if !ok {
			continue
		}
		if skipSpecial {
			if a, ok := t.addedByTok[tok]; ok && a.Special {
				continue
			}
		}
		toks = append(toks, tok)
	}
	if t.dec == nil {
		return strings.Join(toks, " ")
	}
	return strings.Join(t.dec.decodeChain(toks), "")
}

// DecodeBatch decodes several id sequences.
func (t *Tokenizer) DecodeBatch(seqs [][]int32, skipSpecial bool) []string {
	out := make([]string, len(seqs))
	for i, s := range seqs {
		out[i] = t.Decode(s, skipSpecial)
	}
	return out
}
