package tokenizer

// A postProcessor adds special tokens and sets type ids (HF
// "post_processor"). b is nil for a single text.
type postProcessor interface {
	addedTokens(pair bool) int
	process(a, b *Encoding, addSpecial bool) *Encoding
}

// defaultProcess merges a and b unchanged (no post-processor).
func defaultProcess(a, b *Encoding) *Encoding {
	if b != nil {
		a.appendEncoding(b)
	}
	return a
}

// bertProcessing: [CLS] A [SEP] (B [SEP]), A with type 0, B with type 1.
type bertProcessing struct {
	cls, sep     string
	clsID, sepID int32
}

func (p *bertProcessing) addedTokens(pair bool) int {
	if pair {
		return 3
	}
	return 2
}

func (p *bertProcessing) process(a, b *Encoding, addSpecial bool) *Encoding {
	if !addSpecial {
		return defaultProcess(a, b)
	}
	out := &Encoding{}
	out.appendToken(p.clsID, 0, p.cls, 1)
	a.setTypeIDs(0)
	out.appendEncoding(a)
	out.appendToken(p.sepID, 0, p.sep, 1)
	if b != nil {
		b.setTypeIDs(1)
		out.appendEncoding(b)
		out.appendToken(p.sepID, 1, p.sep, 1)
	}
	return out
}

// robertaProcessing: <s> A </s> (</s> B </s>), every type id 0.
type robertaProcessing struct {
	cls, sep     string
	clsID, sepID int32
}

func (p *robertaProcessing) addedTokens(pair bool) int {
	if pair {
		return 4
	}
	return 2
}

func (p *robertaProcessing) process(a, b *Encoding, addSpecial bool) *Encoding {
	a.setTypeIDs(0)
	if b != nil {
		b.setTypeIDs(0)
	}
	if !addSpecial {
		return defaultProcess(a, b)
	}
	out := &Encoding{}
	out.appendToken(p.clsID, 0, p.cls, 1)
	out.appendEncoding(a)
	out.appendToken(p.sepID, 0, p.sep, 1)
	if b != nil {
		out.appendToken(p.sepID, 0, p.sep, 1)
		out.appendEncoding(b)
		out.appendToken(p.sepID, 0, p.sep, 1)
	}
	return out
}

// byteLevelProcessing only trims offsets in HF, which golora does not
// track, so ids and types pass through.
type byteLevelProcessing struct{}

func (byteLevelProcessing) addedTokens(bool) int { return 0 }
func (byteLevelProcessing) process(a, b *Encoding, _ bool) *Encoding {
	return defaultProcess(a, b)
}

// templatePiece is "$A:0", "$B:1" or "[CLS]:0" of a TemplateProcessing.
type templatePiece struct {
	seq     int    // 0 for A, 1 for B, -1 for a special token
	special string // the special token's key
	typeID  int32
}

type templateSpecial struct {
	ids    []int32
	tokens []string
}

// templateProcessing is HF's TemplateProcessing.
type templateProcessing struct {
	single, pair []templatePiece
	specials     map[string]templateSpecial
}

func (p *templateProcessing) addedTokens(pair bool) int {
	tpl := p.single
	if pair {
		tpl = p.pair
	}
	n := 0
	for _, pc := range tpl {
		if pc.seq < 0 {
			n += len(p.specials[pc.special].ids)
		}
	}
	return n
}

func (p *templateProcessing) process(a, b *Encoding, addSpecial bool) *Encoding {
	tpl := p.single
	if b != nil {
		tpl = p.pair
	}
	out := &Encoding{}
	for _, pc := range tpl {
		switch {
		case pc.seq == 0:
			a.setTypeIDs(pc.typeID)
			out.appendEncoding(a)
		case pc.seq == 1 && b != nil:
			b.setTypeIDs(pc.typeID)
			out.appendEncoding(b)
		case pc.seq < 0 && addSpecial:
			sp := p.specials[pc.special]
			for k, id := range sp.ids {
				out.appendToken(id, pc.typeID, sp.tokens[k], 1)
			}
		}
	}
	return out
}

// sequenceProcessing applies processors in turn; the tokenizers library
// feeds the merged result of one into the next.
type sequenceProcessing []postProcessor

func (q sequenceProcessing) addedTokens(pair bool) int {
	n := 0
	for _, p := range q {
		n += p.addedTokens(pair)
	}
	return n
}

func (q sequenceProcessing) process(a, b *Encoding, addSpecial bool) *Encoding {
	for i, p := range q {
		if i == 0 {
			a = p.process(a, b, addSpecial)
		} else {
			a = p.process(a, nil, addSpecial)
		}
	}
	return a
}
