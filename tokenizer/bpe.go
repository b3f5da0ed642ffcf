package tokenizer

import (
	"fmt"
	"sync"
	"unicode/utf8"
)

// A model turns one pre-tokenized word into token ids (HF "model").
type model interface {
	tokenize(dst []int32, word string) ([]int32, error)
	vocab() *vocabulary
}

// vocabulary maps tokens to ids and back.
type vocabulary struct {
	ids    map[string]int32
	tokens []string // by id; "" where an id is absent
}

func newVocabulary(v map[string]int32) (*vocabulary, error) {
	max := int32(-1)
	for tok, id := range v {
		if id < 0 {
			return nil, fmt.Errorf("token %q has negative id %d", tok, id)
		}
		if id > max {
			max = id
		}
	}
	if int64(max) > int64(len(v))*4+1024 {
		return nil, fmt.Errorf("vocabulary ids are too sparse (%d tokens, largest id %d)", len(v), max)
	}
	voc := &vocabulary{ids: v, tokens: make([]string, max+1)}
	for tok, id := range v {
		if voc.tokens[id] != "" {
			return nil, fmt.Errorf("tokens %q and %q share id %d", voc.tokens[id], tok, id)
		}
		voc.tokens[id] = tok
	}
	return voc, nil
}

func (v *vocabulary) token(id int32) (string, bool) {
	if id < 0 || int(id) >= len(v.tokens) {
		return "", false
	}
	t := v.tokens[id]
	if t == "" {
		got, ok := v.ids[""]
		return "", ok && got == id
	}
	return t, true
}

// bpeModel is HF's BPE model: a word is split into characters (with the
// continuing-subword prefix and end-of-word suffix where configured), then
// pairs are merged by rank, lowest first and leftmost among equals, as the
// tokenizers library's priority queue does.
type bpeModel struct {
	voc            *vocabulary
	merges         map[uint64]bpeMerge // (left id, right id) -> rank, new id
	unk            string
	unkID          int32 // -1 if none
	prefix, suffix string
	fuseUnk        bool
	byteFallback   bool
	ignoreMerges   bool
	byteIDs        [256]int32 // ids of <0x00>..<0xFF> for byte_fallback, -1 if absent

	cache wordCache
}

type bpeMerge struct{ rank, id int32 }

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func (m *bpeModel) vocab() *vocabulary { return m.voc }

// bpeSymbol is one symbol of a word being merged: a doubly linked list
// over a slice, as in the tokenizers library's Word.
type bpeSymbol struct {
	id         int32
	prev, next int32
	len        int32 // 0 once merged into its left neighbour
}

type bpeCand struct {
	pos, rank, id int32
}

// bpeHeap is a binary min-heap of candidates by (rank, pos), written out
// so that pushes do not allocate (container/heap boxes every element).
type bpeHeap []bpeCand

func (h bpeHeap) less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].pos < h[j].pos
}

func (h *bpeHeap) push(c bpeCand) {
	*h = append(*h, c)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *bpeHeap) pop() bpeCand {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.less(l, m) {
			m = l
		}
		if r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

// bpeScratch holds the buffers of one word's merge, reused across words.
type bpeScratch struct {
	syms []bpeSymbol
	heap bpeHeap
	buf  []byte
}

var bpeScratchPool = sync.Pool{New: func() any { return new(bpeScratch) }}

func (m *bpeModel) tokenize(dst []int32, word string) ([]int32, error) {
	if word == "" {
		return dst, nil
	}
	if ids, ok := m.cache.get(word); ok {
		return append(dst, ids...), nil
	}
	start := len(dst)
	var err error
	dst, err = m.tokenizeUncached(dst, word)
	if err != nil {
		return dst, err
	}
	m.cache.put(word, dst[start:])
	return dst, nil
}

func (m *bpeModel) tokenizeUncached(dst []int32, word string) ([]int32, error) {
	if m.ignoreMerges {
		if id, ok := m.voc.ids[word]; ok {
			return append(dst, id), nil
		}
	}
	sc := bpeScratchPool.Get().(*bpeScratch)
	defer bpeScratchPool.Put(sc)
	syms := sc.syms[:0]
	buf := sc.buf
	defer func() { sc.syms, sc.buf = syms[:0], buf[:0] }()
	pendingUnk := false
	for i := 0; i < len(word); {
		_, n := utf8.DecodeRuneInString(word[i:])
		s := word[i : i+n]
		buf = buf[:0]
		if i > 0 {
			buf = append(buf, m.prefix...)
		}
		buf = append(buf, s...)
		if i+n == len(word) {
			buf = append(buf, m.suffix...)
		}
		i += n
		if id, ok := m.voc.ids[string(buf)]; ok {
			syms = append(syms, bpeSymbol{id: id, len: int32(n)})
			pendingUnk = false
			continue
		}
		if m.byteFallback {
			ok := true
			for k := 0; k < len(s); k++ {
				ok = ok && m.byteIDs[s[k]] >= 0
			}
			if ok {
				for k := 0; k < len(s); k++ {
					syms = append(syms, bpeSymbol{id: m.byteIDs[s[k]], len: 1})
				}
				pendingUnk = false
				continue
			}
		}
		if m.unkID < 0 {
			continue // no unk token: the character is dropped, as in HF
		}
		if m.fuseUnk && pendingUnk {
			syms[len(syms)-1].len += int32(n)
			continue
		}
		syms = append(syms, bpeSymbol{id: m.unkID, len: int32(n)})
		pendingUnk = true
	}
	for k := range syms {
		syms[k].prev = int32(k - 1)
		syms[k].next = int32(k + 1)
		if k == len(syms)-1 {
			syms[k].next = -1
		}
	}
	if len(syms) > 1 {
		sc.heap = m.mergeAll(syms, sc.heap[:0])
	}
	for k := range syms {
		if syms[k].len > 0 {
			dst = append(dst, syms[k].id)
		}
	}
	return dst, nil
}

// mergeAll applies merges until none applies: always the lowest rank,
// the leftmost among equal ranks.
func (m *bpeModel) mergeAll(syms []bpeSymbol, h bpeHeap) bpeHeap {
	for k := 0; k+1 < len(syms); k++ {
		if mg, ok := m.merges[pairKey(syms[k].id, syms[k+1].id)]; ok {
			h.push(bpeCand{pos: int32(k), rank: mg.rank, id: mg.id})
		}
	}
	for len(h) > 0 {
		c := h.pop()
		s := &syms[c.pos]
		if s.len == 0 || s.next < 0 {
			continue
		}
		right := &syms[s.next]
		// Stale candidate: the pair changed since it was pushed.
		if mg, ok := m.merges[pairKey(s.id, right.id)]; !ok || mg.id != c.id || mg.rank != c.rank {
			continue
		}
		s.id = c.id
		s.len += right.len
		right.len = 0
		s.next = right.next
		if s.next >= 0 {
			syms[s.next].prev = c.pos
		}
		if s.prev >= 0 {
			p := syms[s.prev]
			if mg, ok := m.merges[pairKey(p.id, s.id)]; ok {
				h.push(bpeCand{pos: s.prev, rank: mg.rank, id: mg.id})
			}
		}
		if s.next >= 0 {
			if mg, ok := m.merges[pairKey(s.id, syms[s.next].id)]; ok {
				h.push(bpeCand{pos: c.pos, rank: mg.rank, id: mg.id})
			}
		}
	}
	return h
}

// wordCache remembers the ids of words (shorter than cacheMaxWordLen bytes)
// up to cacheCapacity entries, like the tokenizers library's BPE cache;
// safe for concurrent use.
type wordCache struct {
	mu sync.RWMutex
	m  map[string][]int32
}

const (
	cacheCapacity   = 1 << 18
	cacheMaxWordLen = 256
)

func (c *wordCache) get(w string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.m[w]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int32) {
	if len(w) >= cacheMaxWordLen {
		return
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string][]int32)
	}
	if len(c.m) < cacheCapacity {
		c.m[w] = append([]int32(nil), ids...)
	}
	c.mu.Unlock()
}
