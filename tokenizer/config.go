package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// MaxLength bounds the lengths of truncation and padding (1 Mi tokens; HF
// models use at most a few hundred thousand).
const MaxLength = 1 << 20

// fileJSON is the top level of a tokenizer.json.
type fileJSON struct {
	Version       string          `json:"version"`
	Truncation    json.RawMessage `json:"truncation"`
	Padding       json.RawMessage `json:"padding"`
	AddedTokens   []AddedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// typed reads the "type" field of a component.
func typed(raw json.RawMessage) (string, map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", nil, err
	}
	var typ string
	if t, ok := m["type"]; ok {
		if err := json.Unmarshal(t, &typ); err != nil {
			return "", nil, fmt.Errorf("field type: %v", err)
		}
	}
	return typ, m, nil
}

// field decodes m[key] into v when present and not null.
func field(m map[string]json.RawMessage, key string, v any) error {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("field %s: %v", key, err)
	}
	return nil
}

// stringPattern reads a Replace/Split "pattern": {"String": "..."}; a
// {"Regex": ...} pattern is refused.
func stringPattern(m map[string]json.RawMessage, what string) (string, error) {
	var p struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	}
	if err := field(m, "pattern", &p); err != nil {
		return "", err
	}
	if p.String == nil {
		if p.Regex != nil {
			return "", fmt.Errorf("%s with a Regex pattern (%q) is not supported", what, *p.Regex)
		}
		return "", fmt.Errorf("%s without a pattern", what)
	}
	return *p.String, nil
}

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, m, err := typed(raw)
	if err != nil {
		return nil, fmt.Errorf("normalizer: %v", err)
	}
	switch typ {
	case "BertNormalizer":
		n := &bertNormalizer{cleanText: true, chineseChars: true, lowercase: true}
		var strip *bool
		for _, f := range []struct {
			k string
			v any
		}{{"clean_text", &n.cleanText}, {"handle_chinese_chars", &n.chineseChars}, {"lowercase", &n.lowercase}, {"strip_accents", &strip}} {
			if err := field(m, f.k, f.v); err != nil {
				return nil, fmt.Errorf("normalizer BertNormalizer: %v", err)
			}
		}
		n.stripAccents = n.lowercase
		if strip != nil {
			n.stripAccents = *strip
		}
		return n, nil
	case "Lowercase":
		return lowercaseNormalizer{}, nil
	case "StripAccents":
		return stripAccentsNormalizer{}, nil
	case "NFC":
		return unicodeNormalizer{norm.NFC}, nil
	case "NFD":
		return unicodeNormalizer{norm.NFD}, nil
	case "NFKC":
		return unicodeNormalizer{norm.NFKC}, nil
	case "NFKD":
		return unicodeNormalizer{norm.NFKD}, nil
	case "Strip":
		n := stripNormalizer{left: true, right: true}
		if err := field(m, "strip_left", &n.left); err != nil {
			return nil, err
		}
		if err := field(m, "strip_right", &n.right); err != nil {
			return nil, err
		}
		return n, nil
	case "Replace":
		p, err := stringPattern(m, "normalizer Replace")
		if err != nil {
			return nil, err
		}
		n := replaceNormalizer{pattern: p}
		if err := field(m, "content", &n.content); err != nil {
			return nil, err
		}
		if p == "" {
			return nil, fmt.Errorf("normalizer Replace with an empty pattern")
		}
		return n, nil
	case "Prepend":
		n := prependNormalizer{}
		if err := field(m, "prepend", &n.prepend); err != nil {
			return nil, err
		}
		return n, nil
	case "Sequence":
		var list []json.RawMessage
		if err := field(m, "normalizers", &list); err != nil {
			return nil, err
		}
		var q sequenceNormalizer
		for _, r := range list {
			n, err := parseNormalizer(r)
			if err != nil {
				return nil, err
			}
			if n != nil {
				q = append(q, n)
			}
		}
		return q, nil
	}
	return nil, fmt.Errorf("normalizer %q is not supported (supported: BertNormalizer, Lowercase, StripAccents, NFC, NFD, NFKC, NFKD, Strip, Replace, Prepend, Sequence)", typ)
}

func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, m, err := typed(raw)
	if err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %v", err)
	}
	switch typ {
	case "ByteLevel":
		p := &byteLevelPre{useRegex: true}
		if err := field(m, "add_prefix_space", &p.addPrefixSpace); err != nil {
			return nil, err
		}
		if err := field(m, "use_regex", &p.useRegex); err != nil {
			return nil, err
		}
		return p, nil
	case "BertPreTokenizer":
		return bertPre{}, nil
	case "Whitespace":
		return whitespacePre{}, nil
	case "WhitespaceSplit":
		return whitespaceSplitPre{}, nil
	case "Metaspace":
		p := &metaspacePre{replacement: "▁", prepend: "always", split: true}
		if err := field(m, "replacement", &p.replacement); err != nil {
			return nil, err
		}
		var add *bool
		if err := field(m, "add_prefix_space", &add); err != nil {
			return nil, err
		}
		if add != nil && !*add {
			p.prepend = "never"
		}
		if err := field(m, "prepend_scheme", &p.prepend); err != nil {
			return nil, err
		}
		p.prepend = strings.ToLower(p.prepend)
		if err := field(m, "split", &p.split); err != nil {
			return nil, err
		}
		if p.replacement == "" {
			return nil, fmt.Errorf("pre_tokenizer Metaspace with an empty replacement")
		}
		return p, nil
	case "Split":
		var behavior string
		var invert bool
		_ = field(m, "behavior", &behavior)
		_ = field(m, "invert", &invert)
		var p struct {
			String *string `json:"String"`
			Regex  *string `json:"Regex"`
		}
		if err := field(m, "pattern", &p); err != nil {
			return nil, err
		}
		if p.Regex != nil && behavior == "Isolated" && !invert {
			switch *p.Regex {
			case gpt2Pattern:
				return splitGPT2Pre{}, nil
			case llama3Pattern:
				return splitLlama3Pre{}, nil
			}
		}
		pat := "<none>"
		if p.Regex != nil {
			pat = *p.Regex
		} else if p.String != nil {
			pat = *p.String
		}
		return nil, fmt.Errorf("pre_tokenizer Split (pattern %q, behavior %s) is not supported; only the GPT-2 and LLaMA-3 patterns with behavior Isolated are", pat, behavior)
	case "Sequence":
		var list []json.RawMessage
		if err := field(m, "pretokenizers", &list); err != nil {
			return nil, err
		}
		var q sequencePre
		for _, r := range list {
			p, err := parsePreTokenizer(r)
			if err != nil {
				return nil, err
			}
			if p != nil {
				q = append(q, p)
			}
		}
		return q, nil
	}
	return nil, fmt.Errorf("pre_tokenizer %q is not supported (supported: ByteLevel, BertPreTokenizer, Whitespace, WhitespaceSplit, Metaspace, Split with the GPT-2 or LLaMA-3 pattern, Sequence)", typ)
}

func parseModel(raw json.RawMessage) (model, error) {
	if isNull(raw) {
		return nil, fmt.Errorf("model: missing")
	}
	typ, m, err := typed(raw)
	if err != nil {
		return nil, fmt.Errorf("model: %v", err)
	}
	if typ == "" { // old files have no type; infer it
		if _, ok := m["merges"]; ok {
			typ = "BPE"
		} else if _, ok := m["max_input_chars_per_word"]; ok {
			typ = "WordPiece"
		}
	}
	var vocab map[string]int32
	switch typ {
	case "BPE", "WordPiece":
		if err := field(m, "vocab", &vocab); err != nil {
			return nil, fmt.Errorf("model %s: %v", typ, err)
		}
		if len(vocab) == 0 {
			return nil, fmt.Errorf("model %s: empty vocab", typ)
		}
	}
	switch typ {
	case "BPE":
		return parseBPE(m, vocab)
	case "WordPiece":
		voc, err := newVocabulary(vocab)
		if err != nil {
			return nil, fmt.Errorf("model WordPiece: %v", err)
		}
		w := &wordPieceModel{voc: voc, unk: "[UNK]", prefix: "##", maxChars: 100}
		for _, f := range []struct {
			k string
			v any
		}{{"unk_token", &w.unk}, {"continuing_subword_prefix", &w.prefix}, {"max_input_chars_per_word", &w.maxChars}} {
			if err := field(m, f.k, f.v); err != nil {
				return nil, fmt.Errorf("model WordPiece: %v", err)
			}
		}
		return w, nil
	}
	return nil, fmt.Errorf("model %q is not supported (supported: BPE, WordPiece)", typ)
}

func parseBPE(m map[string]json.RawMessage, vocab map[string]int32) (model, error) {
	voc, err := newVocabulary(vocab)
	if err != nil {
		return nil, fmt.Errorf("model BPE: %v", err)
	}
	b := &bpeModel{voc: voc, unkID: -1}
	var dropout *float64
	var unk *string
	for _, f := range []struct {
		k string
		v any
	}{{"dropout", &dropout}, {"unk_token", &unk}, {"continuing_subword_prefix", &b.prefix},
		{"end_of_word_suffix", &b.suffix}, {"fuse_unk", &b.fuseUnk}, {"byte_fallback", &b.byteFallback},
		{"ignore_merges", &b.ignoreMerges}} {
		if err := field(m, f.k, f.v); err != nil {
			return nil, fmt.Errorf("model BPE: %v", err)
		}
	}
	for i := range b.byteIDs {
		b.byteIDs[i] = -1
		if id, ok := voc.ids[fmt.Sprintf("<0x%02X>", i)]; ok {
			b.byteIDs[i] = id
		}
	}
	if dropout != nil && *dropout != 0 {
		return nil, fmt.Errorf("model BPE: dropout %v is not supported (only null or 0)", *dropout)
	}
	if unk != nil {
		b.unk = *unk
		id, ok := voc.ids[*unk]
		if !ok {
			return nil, fmt.Errorf("model BPE: unk_token %q is not in the vocabulary", *unk)
		}
		b.unkID = id
	}
	var rawMerges []json.RawMessage
	if err := field(m, "merges", &rawMerges); err != nil {
		return nil, fmt.Errorf("model BPE: %v", err)
	}
	b.merges = make(map[uint64]bpeMerge, len(rawMerges))
	for rank, rm := range rawMerges {
		var pair [2]string
		var s string
		if err := json.Unmarshal(rm, &s); err == nil {
			parts := strings.Split(s, " ")
			if len(parts) != 2 {
				return nil, fmt.Errorf("model BPE: merge %d %q is not two tokens separated by one space", rank, s)
			}
			pair = [2]string{parts[0], parts[1]}
		} else if err := json.Unmarshal(rm, &pair); err != nil {
			return nil, fmt.Errorf("model BPE: merge %d is neither \"a b\" nor [\"a\", \"b\"]: %s", rank, rm)
		}
		a, ok1 := voc.ids[pair[0]]
		c, ok2 := voc.ids[pair[1]]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("model BPE: merge %d (%q, %q) uses a token missing from the vocabulary", rank, pair[0], pair[1])
		}
		right := pair[1]
		if b.prefix != "" {
			right = strings.TrimPrefix(right, b.prefix)
		}
		id, ok := voc.ids[pair[0]+right]
		if !ok {
			return nil, fmt.Errorf("model BPE: merge %d result %q is not in the vocabulary", rank, pair[0]+right)
		}
		if _, dup := b.merges[pairKey(a, c)]; !dup {
			b.merges[pairKey(a, c)] = bpeMerge{rank: int32(rank), id: id}
		}
	}
	return b, nil
}

// tokenID is a [token, id] pair as Bert/RobertaProcessing store them.
func tokenID(m map[string]json.RawMessage, key string, def string, defID int32) (string, int32, error) {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return def, defID, nil
	}
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return "", 0, fmt.Errorf("field %s: want [token, id]", key)
	}
	var tok string
	var id int32
	if err := json.Unmarshal(pair[0], &tok); err != nil {
		return "", 0, fmt.Errorf("field %s: %v", key, err)
	}
	if err := json.Unmarshal(pair[1], &id); err != nil {
		return "", 0, fmt.Errorf("field %s: %v", key, err)
	}
	return tok, id, nil
}

func parsePostProcessor(raw json.RawMessage) (postProcessor, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, m, err := typed(raw)
	if err != nil {
		return nil, fmt.Errorf("post_processor: %v", err)
	}
	switch typ {
	case "BertProcessing":
		p := &bertProcessing{}
		if p.sep, p.sepID, err = tokenID(m, "sep", "[SEP]", 102); err != nil {
			return nil, fmt.Errorf("post_processor BertProcessing: %v", err)
		}
		if p.cls, p.clsID, err = tokenID(m, "cls", "[CLS]", 101); err != nil {
			return nil, fmt.Errorf("post_processor BertProcessing: %v", err)
		}
		return p, nil
	case "RobertaProcessing":
		p := &robertaProcessing{}
		if p.sep, p.sepID, err = tokenID(m, "sep", "</s>", 2); err != nil {
			return nil, fmt.Errorf("post_processor RobertaProcessing: %v", err)
		}
		if p.cls, p.clsID, err = tokenID(m, "cls", "<s>", 0); err != nil {
			return nil, fmt.Errorf("post_processor RobertaProcessing: %v", err)
		}
		return p, nil
	case "ByteLevel":
		return byteLevelProcessing{}, nil
	case "TemplateProcessing":
		return parseTemplate(m)
	case "Sequence":
		var list []json.RawMessage
		if err := field(m, "processors", &list); err != nil {
			return nil, err
		}
		var q sequenceProcessing
		for _, r := range list {
			p, err := parsePostProcessor(r)
			if err != nil {
				return nil, err
			}
			if p != nil {
				q = append(q, p)
			}
		}
		return q, nil
	}
	return nil, fmt.Errorf("post_processor %q is not supported (supported: BertProcessing, RobertaProcessing, ByteLevel, TemplateProcessing, Sequence)", typ)
}

func parseTemplate(m map[string]json.RawMessage) (postProcessor, error) {
	type piece struct {
		Sequence *struct {
			ID     string `json:"id"`
			TypeID int32  `json:"type_id"`
		} `json:"Sequence"`
		SpecialToken *struct {
			ID     string `json:"id"`
			TypeID int32  `json:"type_id"`
		} `json:"SpecialToken"`
	}
	var single, pair []piece
	var specials map[string]struct {
		ID     string   `json:"id"`
		IDs    []int32  `json:"ids"`
		Tokens []string `json:"tokens"`
	}
	for _, f := range []struct {
		k string
		v any
	}{{"single", &single}, {"pair", &pair}, {"special_tokens", &specials}} {
		if err := field(m, f.k, f.v); err != nil {
			return nil, fmt.Errorf("post_processor TemplateProcessing: %v", err)
		}
	}
	p := &templateProcessing{specials: map[string]templateSpecial{}}
	for k, s := range specials {
		if len(s.IDs) != len(s.Tokens) {
			return nil, fmt.Errorf("post_processor TemplateProcessing: special token %q has %d ids but %d tokens", k, len(s.IDs), len(s.Tokens))
		}
		p.specials[k] = templateSpecial{ids: s.IDs, tokens: s.Tokens}
	}
	conv := func(name string, in []piece) ([]templatePiece, error) {
		var out []templatePiece
		for _, pc := range in {
			switch {
			case pc.Sequence != nil:
				seq := 0
				switch pc.Sequence.ID {
				case "A":
				case "B":
					seq = 1
				default:
					return nil, fmt.Errorf("post_processor TemplateProcessing: %s: unknown sequence %q", name, pc.Sequence.ID)
				}
				out = append(out, templatePiece{seq: seq, typeID: pc.Sequence.TypeID})
			case pc.SpecialToken != nil:
				if _, ok := p.specials[pc.SpecialToken.ID]; !ok {
					return nil, fmt.Errorf("post_processor TemplateProcessing: %s uses %q, missing from special_tokens", name, pc.SpecialToken.ID)
				}
				out = append(out, templatePiece{seq: -1, special: pc.SpecialToken.ID, typeID: pc.SpecialToken.TypeID})
			default:
				return nil, fmt.Errorf("post_processor TemplateProcessing: %s: a piece is neither Sequence nor SpecialToken", name)
			}
		}
		return out, nil
	}
	var err error
	if p.single, err = conv("single", single); err != nil {
		return nil, err
	}
	if p.pair, err = conv("pair", pair); err != nil {
		return nil, err
	}
	return p, nil
}

func parseDecoder(raw json.RawMessage) (decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, m, err := typed(raw)
	if err != nil {
		return nil, fmt.Errorf("decoder: %v", err)
	}
	switch typ {
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "WordPiece":
		d := wordPieceDecoder{prefix: "##", cleanup: true}
		if err := field(m, "prefix", &d.prefix); err != nil {
			return nil, err
		}
		if err := field(m, "cleanup", &d.cleanup); err != nil {
			return nil, err
		}
		return d, nil
	case "BPEDecoder":
		d := bpeDecoder{suffix: "</w>"}
		if err := field(m, "suffix", &d.suffix); err != nil {
			return nil, err
		}
		return d, nil
	case "Metaspace":
		d := metaspaceDecoder{replacement: "▁", prepend: "always"}
		if err := field(m, "replacement", &d.replacement); err != nil {
			return nil, err
		}
		var add *bool
		if err := field(m, "add_prefix_space", &add); err != nil {
			return nil, err
		}
		if add != nil && !*add {
			d.prepend = "never"
		}
		if err := field(m, "prepend_scheme", &d.prepend); err != nil {
			return nil, err
		}
		d.prepend = strings.ToLower(d.prepend)
		return d, nil
	case "Replace":
		p, err := stringPattern(m, "decoder Replace")
		if err != nil {
			return nil, err
		}
		d := replaceDecoder{pattern: p}
		if err := field(m, "content", &d.content); err != nil {
			return nil, err
		}
		if p == "" {
			return nil, fmt.Errorf("decoder Replace with an empty pattern")
		}
		return d, nil
	case "ByteFallback":
		return byteFallbackDecoder{}, nil
	case "Fuse":
		return fuseDecoder{}, nil
	case "Strip":
		d := stripDecoder{}
		for _, f := range []struct {
			k string
			v any
		}{{"content", &d.content}, {"start", &d.start}, {"stop", &d.stop}} {
			if err := field(m, f.k, f.v); err != nil {
				return nil, err
			}
		}
		return d, nil
	case "Sequence":
		var list []json.RawMessage
		if err := field(m, "decoders", &list); err != nil {
			return nil, err
		}
		var q sequenceDecoder
		for _, r := range list {
			d, err := parseDecoder(r)
			if err != nil {
				return nil, err
			}
			if d != nil {
				q = append(q, d)
			}
		}
		return q, nil
	}
	return nil, fmt.Errorf("decoder %q is not supported (supported: ByteLevel, WordPiece, BPEDecoder, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence)", typ)
}

func parseTruncation(raw json.RawMessage) (*Truncation, error) {
	if isNull(raw) {
		return nil, nil
	}
	t := &Truncation{Direction: Right, Strategy: LongestFirst}
	if err := json.Unmarshal(raw, t); err != nil {
		return nil, fmt.Errorf("truncation: %v", err)
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Truncation) validate() error {
	switch t.Direction {
	case Right, Left:
	default:
		return fmt.Errorf("truncation: direction %q is neither Right nor Left", t.Direction)
	}
	switch t.Strategy {
	case LongestFirst, OnlyFirst, OnlySecond:
	default:
		return fmt.Errorf("truncation: unknown strategy %q", t.Strategy)
	}
	if t.MaxLength < 0 || t.Stride < 0 || t.MaxLength > MaxLength {
		return fmt.Errorf("truncation: max_length %d or stride %d is out of range: want 0 to %d", t.MaxLength, t.Stride, MaxLength)
	}
	return nil
}

func parsePadding(raw json.RawMessage) (*Padding, error) {
	if isNull(raw) {
		return nil, nil
	}
	var p struct {
		Strategy        json.RawMessage `json:"strategy"`
		Direction       Direction       `json:"direction"`
		PadToMultipleOf *int            `json:"pad_to_multiple_of"`
		PadID           int32           `json:"pad_id"`
		PadTypeID       int32           `json:"pad_type_id"`
		PadToken        string          `json:"pad_token"`
	}
	p.Direction = Right
	p.PadToken = "[PAD]"
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("padding: %v", err)
	}
	out := &Padding{Direction: p.Direction, PadID: p.PadID, PadTypeID: p.PadTypeID, PadToken: p.PadToken}
	if p.PadToMultipleOf != nil {
		out.PadToMultipleOf = *p.PadToMultipleOf
	}
	var s string
	var fixed struct {
		Fixed *int `json:"Fixed"`
	}
	switch {
	case isNull(p.Strategy):
		out.Strategy.BatchLongest = true
	case json.Unmarshal(p.Strategy, &s) == nil && s == "BatchLongest":
		out.Strategy.BatchLongest = true
	case json.Unmarshal(p.Strategy, &fixed) == nil && fixed.Fixed != nil:
		out.Strategy.Fixed = *fixed.Fixed
	default:
		return nil, fmt.Errorf("padding: strategy %s is neither \"BatchLongest\" nor {\"Fixed\": n}", p.Strategy)
	}
	if err := out.validate(); err != nil {
		return nil, err
	}
	return out, nil
}

func (p *Padding) validate() error {
	switch p.Direction {
	case Right, Left:
	default:
		return fmt.Errorf("padding: direction %q is neither Right nor Left", p.Direction)
	}
	if p.Strategy.Fixed < 0 || p.PadToMultipleOf < 0 || p.Strategy.Fixed > MaxLength || p.PadToMultipleOf > MaxLength {
		return fmt.Errorf("padding: length %d or multiple %d is out of range: want 0 to %d", p.Strategy.Fixed, p.PadToMultipleOf, MaxLength)
	}
	if !p.Strategy.BatchLongest && p.Strategy.Fixed == 0 {
		return fmt.Errorf("padding: a Fixed strategy needs a length > 0")
	}
	return nil
}

// sortedAdded returns the added tokens ordered by id.
func sortedAdded(toks []AddedToken) []AddedToken {
	out := append([]AddedToken(nil), toks...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
