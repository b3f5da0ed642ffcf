package data

import (
	"strings"
	"testing"

	"github.com/golora/golora/memory"
)

func TestBatchReuse(t *testing.T) {
	var b Batch
	ids, mask, tg := b.SetTokens(2, 5, 10, true)
	if len(ids) != 10 || len(mask) != 10 || len(tg) != 10 {
		t.Fatalf("sizes %d %d %d", len(ids), len(mask), len(tg))
	}
	for i := range ids {
		ids[i], mask[i], tg[i] = 1, 1, IgnoreIndex
	}
	tg[3] = 2
	if b.ValidTargets() != 1 {
		t.Errorf("valid targets %d", b.ValidTargets())
	}
	a0 := memory.Take().Allocated[memory.Data]
	// Smaller batches reuse the buffers; an unmasked one has no mask.
	if _, m, _ := b.SetTokens(1, 4, 4, false); m != nil || b.Mask != nil {
		t.Error("an unmasked batch has a mask")
	}
	b.SetTokens(2, 5, 10, true)
	if d := memory.Take().Allocated[memory.Data] - a0; d != 0 {
		t.Errorf("reuse allocated %d bytes", d)
	}
	pix, targets := b.SetImages(3, 1, 2, 2)
	if len(pix) != 12 || len(targets) != 3 || b.Pixels.Dim(0) != 3 || b.IDs != nil {
		t.Errorf("images: %d pixels, %d targets", len(pix), len(targets))
	}
}

func TestBatchCheck(t *testing.T) {
	text := Spec{SeqLen: 4, Vocab: 10, Classes: 10, PerToken: true}
	cls := Spec{SeqLen: 4, Vocab: 10, Classes: 2}
	img := Spec{Channels: 1, Height: 2, Width: 2, Classes: 3}
	for _, tc := range []struct {
		name string
		spec Spec
		fill func(b *Batch)
		err  string
	}{
		{"lm ok", text, func(b *Batch) { b.SetTokens(2, 3, 6, true) }, ""},
		{"too long", text, func(b *Batch) { b.SetTokens(1, 5, 5, false) }, "does not fit"},
		{"id out of vocab", text, func(b *Batch) { ids, _, _ := b.SetTokens(1, 2, 2, false); ids[1] = 10 }, "outside the vocabulary"},
		{"lm rows", text, func(b *Batch) { b.SetTokens(2, 3, 2, false) }, "targets"},
		{"token types", cls, func(b *Batch) { b.SetTokens(2, 4, 2, false); b.SetTokenTypes(); b.TokenTypes = b.TokenTypes[:3] }, "token type"},
		{"class ok", cls, func(b *Batch) { b.SetTokens(2, 4, 2, false) }, ""},
		{"class out of range", cls, func(b *Batch) { _, _, tg := b.SetTokens(2, 4, 2, false); tg[0] = 2 }, "outside [0, 2)"},
		{"image ok", img, func(b *Batch) { b.SetImages(2, 1, 2, 2) }, ""},
		{"no pixels", img, func(b *Batch) { b.N = 1 }, "no pixel values"},
	} {
		var b Batch
		tc.fill(&b)
		err := b.Check(tc.spec)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
	if got := text.Bytes(2); got != 4*(2*4)+2*4*2*4 {
		t.Errorf("text batch bytes %d", got)
	}
	if got := img.Bytes(2); got != 4*2+4*2*4 {
		t.Errorf("image batch bytes %d", got)
	}
}
