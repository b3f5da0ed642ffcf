package text

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestGroupTexts(t *testing.T) {
	seqs := [][]int32{{1, 2, 3}, {4, 5}, {6, 7, 8, 9, 10}, {11}}
	for _, c := range []struct {
		block, mapBatch int
		want            [][]int32
	}{
		{4, 0, [][]int32{{1, 2, 3, 4}, {5, 6, 7, 8}}},
		{3, 0, [][]int32{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}},
		{11, 0, [][]int32{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}}},
		{12, 0, nil},
		// Per map batch of 2 texts: {1..5} -> one block of 4, {6..11} -> one block of 4.
		{4, 2, [][]int32{{1, 2, 3, 4}, {6, 7, 8, 9}}},
	} {
		got, err := GroupTexts(seqs, c.block, c.mapBatch)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("block %d map %d: got %v, want %v", c.block, c.mapBatch, got, c.want)
		}
	}
	if _, err := GroupTexts(seqs, 0, 0); err == nil {
		t.Error("block size 0 accepted")
	}
	// Blocks must not alias beyond their end.
	got, _ := GroupTexts(seqs, 3, 0)
	got[0] = append(got[0], 99)
	if got[1][0] != 4 {
		t.Error("appending to a block overwrote the next one")
	}
}

func TestPadBatch(t *testing.T) {
	seqs := [][]int32{{5, 6, 7}, {8}}
	b, err := PadBatch(seqs, 0, PadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := LMBatch{N: 2, T: 3,
		InputIDs:      []int32{5, 6, 7, 8, 0, 0},
		AttentionMask: []int32{1, 1, 1, 1, 0, 0},
		Labels:        []int32{5, 6, 7, 8, -100, -100}}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("right: got %+v, want %+v", b, want)
	}
	b, _ = PadBatch(seqs, 9, PadOptions{Left: true, PadToMultipleOf: 4})
	want = LMBatch{N: 2, T: 4,
		InputIDs:      []int32{9, 5, 6, 7, 9, 9, 9, 8},
		AttentionMask: []int32{0, 1, 1, 1, 0, 0, 0, 1},
		Labels:        []int32{-100, 5, 6, 7, -100, -100, -100, 8}}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("left, multiple of 4: got %+v, want %+v", b, want)
	}
	b, _ = PadBatch(seqs, 0, PadOptions{MaxLength: 2})
	if b.T != 2 || !reflect.DeepEqual(b.InputIDs, []int32{5, 6, 8, 0}) {
		t.Errorf("max length 2: got %+v", b)
	}
	// A real id equal to the pad id is still scored (mask-based labels).
	b, _ = PadBatch([][]int32{{0, 1}, {2}}, 0, PadOptions{})
	if !reflect.DeepEqual(b.Labels, []int32{0, 1, 2, -100}) {
		t.Errorf("pad id inside text: labels %v", b.Labels)
	}
	if _, err := PadBatch(nil, 0, PadOptions{}); err == nil {
		t.Error("empty batch accepted")
	}
}

func TestShiftLabels(t *testing.T) {
	got, err := ShiftLabels([]int32{1, 2, 3, 4, 5, -100}, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{2, 3, -100, 5, -100, -100}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := ShiftLabels([]int32{1, 2, 3}, 2, 2); err == nil {
		t.Error("wrong shape accepted")
	}
}

func writeFile(t *testing.T, dir, name, s string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadIMDBValidates(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ body, want string }{
		{`[{"t":"good","s":1},{"t":"bad","s":0}]`, ""},
		{`[{"t":"good","s":1}`, "malformed JSON"},
		{`{"t":"x"}`, "malformed JSON"},
		{`[]`, "no reviews"},
		{`[{"s":1}]`, "review 0 has no text"},
		{`[{"t":"x","s":2}]`, "review 0 has no sentiment"},
		{`[{"t":"x"}]`, "review 0 has no sentiment"},
	} {
		p := writeFile(t, dir, "reviews.json", c.body)
		r, err := LoadIMDB(p)
		if c.want == "" {
			if err != nil || len(r) != 2 || r[0] != (Review{"good", 1}) {
				t.Errorf("%s: got %v, %v", c.body, r, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.body, err, c.want)
		}
	}
	if _, err := LoadIMDB(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestSplitIMDB(t *testing.T) {
	var rs []Review
	for i := 0; i < 100; i++ {
		rs = append(rs, Review{Text: strings.Repeat("x", i%40+1) + []string{"a", "b"}[i%2], Label: i % 2})
	}
	train, test, err := SplitIMDB(rs, 0.25, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(train)+len(test) != len(rs) {
		t.Fatalf("lost reviews: %d + %d", len(train), len(test))
	}
	inTrain := map[string]bool{}
	for _, r := range train {
		inTrain[r.Text] = true
	}
	pos := 0
	for _, r := range test {
		if inTrain[r.Text] {
			t.Fatalf("text %q is in both parts", r.Text)
		}
		pos += r.Label
	}
	if len(test) < 20 || len(test) > 30 || pos < 10 || pos > 15 {
		t.Errorf("test part: %d reviews, %d positive", len(test), pos)
	}
	train2, test2, _ := SplitIMDB(rs, 0.25, 7)
	if !reflect.DeepEqual(train, train2) || !reflect.DeepEqual(test, test2) {
		t.Error("same seed, different split")
	}
	if _, _, err := SplitIMDB(rs, 1, 0); err == nil {
		t.Error("test fraction 1 accepted")
	}
}

func TestLoadSOTUAndMobyDickValidate(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "1790_george_washington_n.json", `{"year":1790,"name":"George Washington","party":"none","text":"Fellow-Citizens"}`)
	writeFile(t, dir, "1791_george_washington_n.json", `{"year":1791,"name":"George Washington","party":"none","text":"More"}`)
	s, err := LoadSOTU(dir)
	if err != nil || len(s) != 2 || s[0].Year != 1790 || s[1].Text != "More" {
		t.Fatalf("got %v, %v", s, err)
	}
	writeFile(t, dir, "1792_x_n.json", `{"year":1792,"text":""}`)
	if _, err := LoadSOTU(dir); err == nil || !strings.Contains(err.Error(), "missing year or text") {
		t.Errorf("empty text: %v", err)
	}
	if _, err := LoadSOTU(t.TempDir()); err == nil {
		t.Error("empty directory accepted")
	}

	md := t.TempDir()
	writeFile(t, md, "file_list.json", `["chapter_1.txt","epilogue.txt"]`)
	writeFile(t, md, "chapter_1.json", `{"chapter":"1","title":"Loomings.","text":"Call me Ishmael."}`)
	writeFile(t, md, "epilogue.json", `{"chapter":"Epilogue","title":"","text":"The drama's done."}`)
	c, err := LoadMobyDick(md)
	if err != nil || len(c) != 2 || c[0].Title != "Loomings." || c[1].Chapter != "Epilogue" {
		t.Fatalf("got %v, %v", c, err)
	}
	writeFile(t, md, "file_list.json", `["../etc/passwd.txt"]`)
	if _, err := LoadMobyDick(md); err == nil || !strings.Contains(err.Error(), "bad entry") {
		t.Errorf("path in file list: %v", err)
	}
}

func skipIfMissing(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrNotInstalled) {
		t.Skipf("text corpora not installed: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestRealCorpora(t *testing.T) {
	t.Run("imdb", func(t *testing.T) {
		rs, err := IMDB()
		skipIfMissing(t, err)
		pos := 0
		for _, r := range rs {
			pos += r.Label
		}
		if len(rs) != 50000 || pos != 25000 {
			t.Errorf("%d reviews, %d positive; want 50000, 25000", len(rs), pos)
		}
		if !strings.HasPrefix(rs[0].Text, "Once again Mr. Costner") {
			t.Errorf("first review: %.40q", rs[0].Text)
		}
		train, test, err := SplitIMDB(rs, 0.5, 0)
		if err != nil || len(train)+len(test) != 50000 || len(test) < 24900 || len(test) > 25100 {
			t.Errorf("split: %d/%d, %v", len(train), len(test), err)
		}
	})
	t.Run("sotu", func(t *testing.T) {
		s, err := SOTU()
		skipIfMissing(t, err)
		if len(s) < 200 || s[0].Year != 1790 || s[0].Name != "George Washington" || s[len(s)-1].Year < 2020 {
			t.Errorf("%d speeches, first %d %s, last %d", len(s), s[0].Year, s[0].Name, s[len(s)-1].Year)
		}
	})
	t.Run("moby-dick", func(t *testing.T) {
		c, err := MobyDick()
		skipIfMissing(t, err)
		if len(c) != 139 || c[3].Chapter != "1" || !strings.Contains(c[3].Text, "Call me Ishmael.") || c[138].Chapter != "Epilogue" {
			t.Errorf("%d parts; part 3 %q", len(c), c[3].Chapter)
		}
	})
}
