package tokenizer

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"unicode/utf8"
)

// BPETrainer holds the settings of the tokenizers library's BpeTrainer for
// a byte-level BPE (GPT-2 style: ByteLevel pre-tokenizer without prefix
// space, the 256 byte runes as initial alphabet, no unk token, no prefix or
// suffix).
type BPETrainer struct {
	VocabSize     int      // final size including special tokens and the alphabet (HF default 30000)
	MinFrequency  int      // a pair seen fewer times is not merged
	SpecialTokens []string // get the first ids, in order, and become special added tokens
}

// TrainBPE learns merges from texts as HF's BpeTrainer does: words are the
// ByteLevel pre-tokenizer's pieces, counted; the vocabulary starts with the
// special tokens, then the alphabet (every byte rune plus any rune seen)
// sorted by code point; then, until the vocabulary is full, the most
// frequent adjacent pair (ties: the smallest pair of ids) is merged into a
// new token. It returns the tokenizer, whose JSON (t.JSON()) is a
// tokenizer.json that the tokenizers library and tokenizers.js load.
func (c BPETrainer) TrainBPE(texts []string) (*Tokenizer, error) {
	if c.VocabSize <= 0 {
		return nil, fmt.Errorf("tokenizer: BPE trainer: vocab size %d must be positive", c.VocabSize)
	}
	if c.MinFrequency < 0 {
		return nil, fmt.Errorf("tokenizer: BPE trainer: negative min frequency %d", c.MinFrequency)
	}
	seen := map[string]bool{}
	for _, s := range c.SpecialTokens {
		if s == "" {
			return nil, fmt.Errorf("tokenizer: BPE trainer: empty special token")
		}
		if seen[s] {
			return nil, fmt.Errorf("tokenizer: BPE trainer: special token %q given twice", s)
		}
		seen[s] = true
	}
	wordCounts := countWords(texts)

	// Vocabulary: special tokens, then the alphabet by code point.
	var id2w []string
	w2id := map[string]int32{}
	add := func(s string) int32 {
		if id, ok := w2id[s]; ok {
			return id
		}
		id := int32(len(id2w))
		id2w = append(id2w, s)
		w2id[s] = id
		return id
	}
	for _, s := range c.SpecialTokens {
		add(s)
	}
	alphabet := map[rune]bool{}
	for _, r := range byteToRune {
		alphabet[r] = true
	}
	for w := range wordCounts {
		for _, r := range w {
			alphabet[r] = true
		}
	}
	runes := make([]rune, 0, len(alphabet))
	for r := range alphabet {
		runes = append(runes, r)
	}
	sort.Slice(runes, func(i, j int) bool { return runes[i] < runes[j] })
	for _, r := range runes {
		add(string(r))
	}

	// Words as symbol ids, in a fixed order.
	keys := make([]string, 0, len(wordCounts))
	for w := range wordCounts {
		keys = append(keys, w)
	}
	sort.Strings(keys)
	words := make([][]int32, len(keys))
	counts := make([]int64, len(keys))
	for i, w := range keys {
		counts[i] = int64(wordCounts[w])
		syms := make([]int32, 0, utf8.RuneCountInString(w))
		for _, r := range w {
			syms = append(syms, w2id[string(r)])
		}
		words[i] = syms
	}

	// Pair counts and where each pair occurs.
	pairCounts := map[uint64]int64{}
	where := map[uint64]map[int32]struct{}{}
	for i, syms := range words {
		for k := 0; k+1 < len(syms); k++ {
			p := pairKey(syms[k], syms[k+1])
			pairCounts[p] += counts[i]
			if where[p] == nil {
				where[p] = map[int32]struct{}{}
			}
			where[p][int32(i)] = struct{}{}
		}
	}
	q := &mergeQueue{}
	push := func() {
		for p, pos := range where {
			if n := pairCounts[p]; n > 0 {
				heap.Push(q, mergeEntry{pair: p, count: n, pos: pos})
			}
		}
		clear(where)
	}
	push()

	type merge struct {
		a, b string
	}
	var merges []merge
	for len(id2w) < c.VocabSize && q.Len() > 0 {
		top := heap.Pop(q).(mergeEntry)
		if cur := pairCounts[top.pair]; top.count != cur {
			top.count = cur
			heap.Push(q, top)
			continue
		}
		if top.count < 1 || int64(c.MinFrequency) > top.count {
			break
		}
		a, b := int32(top.pair>>32), int32(uint32(top.pair))
		newID := add(id2w[a] + id2w[b])
		merges = append(merges, merge{id2w[a], id2w[b]})
		pos := make([]int32, 0, len(top.pos))
		for i := range top.pos {
			pos = append(pos, i)
		}
		sort.Slice(pos, func(i, j int) bool { return pos[i] < pos[j] })
		for _, i := range pos {
			var changes []pairChange
			words[i], changes = mergeWord(words[i], a, b, newID, changes)
			for _, ch := range changes {
				pairCounts[ch.pair] += int64(ch.delta) * counts[i]
				if ch.delta > 0 {
					if where[ch.pair] == nil {
						where[ch.pair] = map[int32]struct{}{}
					}
					where[ch.pair][i] = struct{}{}
				}
			}
		}
		push()
	}

	// The tokenizer.json, in the layout the tokenizers library writes.
	var buf bytes.Buffer
	buf.WriteString(`{"version":"1.0","truncation":null,"padding":null,"added_tokens":[`)
	for i, s := range c.SpecialTokens {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"id":%d,"content":%s,"single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}`, w2id[s], jsonString(s))
	}
	buf.WriteString(`],"normalizer":null,`)
	buf.WriteString(`"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},`)
	buf.WriteString(`"post_processor":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":false,"use_regex":true},`)
	buf.WriteString(`"decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},`)
	buf.WriteString(`"model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,"end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false,"vocab":{`)
	for id, w := range id2w {
		if id > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(jsonString(w))
		buf.WriteByte(':')
		buf.WriteString(strconv.Itoa(id))
	}
	buf.WriteString(`},"merges":[`)
	for i, m := range merges {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("[" + jsonString(m.a) + "," + jsonString(m.b) + "]")
	}
	buf.WriteString("]}}\n")
	return FromJSON(buf.Bytes())
}

func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return string(bytes.TrimRight(b.Bytes(), "\n"))
}

// countWords pre-tokenizes texts as the ByteLevel pre-tokenizer does and
// counts the pieces, on all cores.
func countWords(texts []string) map[string]int {
	workers := runtime.GOMAXPROCS(0)
	parts := make([]map[string]int, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			m := map[string]int{}
			var buf []byte
			for i := w; i < len(texts); i += workers {
				splitGPT2(texts[i], func(piece string) {
					buf = byteLevelEncode(buf[:0], piece)
					m[string(buf)]++
				})
			}
			parts[w] = m
		}(w)
	}
	wg.Wait()
	out := parts[0]
	for _, m := range parts[1:] {
		for k, v := range m {
			out[k] += v
		}
	}
	return out
}

type pairChange struct {
	pair  uint64
	delta int32
}

// mergeWord replaces each occurrence of (a, b), left to right, with id and
// reports the pair count changes, as the tokenizers library's Word::merge.
func mergeWord(syms []int32, a, b, id int32, changes []pairChange) ([]int32, []pairChange) {
	for i := 0; i < len(syms); i++ {
		if syms[i] != a || i+1 >= len(syms) || syms[i+1] != b {
			continue
		}
		if i > 0 {
			changes = append(changes, pairChange{pairKey(syms[i-1], a), -1}, pairChange{pairKey(syms[i-1], id), 1})
		}
		syms[i] = id
		syms = append(syms[:i+1], syms[i+2:]...)
		if i < len(syms)-1 {
			changes = append(changes, pairChange{pairKey(b, syms[i+1]), -1}, pairChange{pairKey(id, syms[i+1]), 1})
		}
	}
	return syms, changes
}

// mergeEntry is a candidate merge: most frequent first, then the smallest
// pair of ids.
type mergeEntry struct {
	pair  uint64
	count int64
	pos   map[int32]struct{}
}

type mergeQueue []mergeEntry

func (q mergeQueue) Len() int { return len(q) }
func (q mergeQueue) Less(i, j int) bool {
	if q[i].count != q[j].count {
		return q[i].count > q[j].count
	}
	return q[i].pair < q[j].pair
}
func (q mergeQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *mergeQueue) Push(x any)   { *q = append(*q, x.(mergeEntry)) }
func (q *mergeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
