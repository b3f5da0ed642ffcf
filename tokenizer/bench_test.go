package tokenizer

import (
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/golora/golora/data/text"
	"github.com/golora/golora/internal/cpuclock"
)

// benchTexts is the first 2,000 IMDB reviews when the corpora are installed
// (data/text), else the committed corpus of 200 reviews.
func benchTexts(b *testing.B) []string {
	benchOnce.Do(func() { benchCache = loadBenchTexts(b) })
	runtime.GC() // the 66 MB of IMDB JSON just read is garbage
	return benchCache
}

var (
	benchOnce  sync.Once
	benchCache []string
)

func loadBenchTexts(b *testing.B) []string {
	rs, err := text.IMDB()
	if err == nil {
		out := make([]string, 0, 2000)
		for _, r := range rs[:1000] {
			out = append(out, r.Text)
		}
		for _, r := range rs[25000:26000] {
			out = append(out, r.Text)
		}
		return out
	}
	if !errors.Is(err, text.ErrNotInstalled) {
		b.Fatal(err)
	}
	return trainingCorpus(b)
}

// benchEncode reports tokens/s of EncodeBatch (all cores) over the texts,
// with the word cache warm after the first pass, as in a training run.
func benchEncode(b *testing.B, tk *Tokenizer) {
	texts := benchTexts(b)
	bytes := 0
	for _, s := range texts {
		bytes += len(s)
	}
	b.SetBytes(int64(bytes))
	b.ResetTimer()
	tokens := 0
	for i := 0; i < b.N; i++ {
		encs, err := tk.EncodeBatch(texts, true)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range encs {
			tokens += e.Len()
		}
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkEncodeGPT2(b *testing.B) { benchEncode(b, refTok(b, "gpt2")) }
func BenchmarkEncodeBERT(b *testing.B) { benchEncode(b, refTok(b, "bert-base-uncased")) }

// BenchmarkEncodeGPT2Cold measures a fresh tokenizer each time (no cache).
func BenchmarkEncodeGPT2Cold(b *testing.B) {
	raw := bases["gpt2"]
	if raw == nil {
		refTok(b, "gpt2")
		raw = bases["gpt2"]
	}
	texts := benchTexts(b)[:200]
	tokens := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tk, err := FromJSON(raw)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, s := range texts {
			e, _ := tk.Encode(s, false)
			tokens += e.Len()
		}
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkTrainBPE(b *testing.B) {
	texts := trainingCorpus(b)
	for i := 0; i < b.N; i++ {
		if _, err := (BPETrainer{VocabSize: 2000}).TrainBPE(texts); err != nil {
			b.Fatal(err)
		}
	}
}

func cpuSeconds() float64 {
	t, _ := cpuclock.Process()
	return t.Seconds()
}

// BenchmarkEncodeCPU encodes the bench texts one after the other (as
// testdata/tokenizer/speed.mjs does with tokenizers.js) and reports tokens
// per CPU second of the process, which shared machines disturb less than
// wall time. The first iteration has a cold word cache.
func BenchmarkEncodeCPU(b *testing.B) {
	for _, name := range []string{"gpt2", "bert-base-uncased"} {
		b.Run(name, func(b *testing.B) {
			tk, err := FromJSON(refTok(b, name).JSON()) // a fresh word cache
			if err != nil {
				b.Fatal(err)
			}
			texts := benchTexts(b)
			b.ResetTimer()
			c0, n := cpuSeconds(), 0
			for i := 0; i < b.N; i++ {
				for _, s := range texts {
					e, err := tk.Encode(s, true)
					if err != nil {
						b.Fatal(err)
					}
					n += e.Len()
				}
			}
			b.ReportMetric(float64(n)/(cpuSeconds()-c0), "tokens/cpu-s")
		})
	}
}

// BenchmarkTrainIMDB trains a 4,000-token byte-level BPE on all 50,000 IMDB
// reviews and encodes them with it (IDsBatch), reporting the CPU seconds of
// each part. It needs the npm corpora.
func BenchmarkTrainIMDB(b *testing.B) {
	rs, err := text.IMDB()
	if errors.Is(err, text.ErrNotInstalled) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	texts := make([]string, len(rs))
	for i, r := range rs {
		texts[i] = r.Text
	}
	rs = nil
	runtime.GC()
	b.ResetTimer()
	var train, enc float64
	n := 0
	for i := 0; i < b.N; i++ {
		c0 := cpuSeconds()
		tk, err := BPETrainer{VocabSize: 4000, SpecialTokens: []string{"<|endoftext|>"}}.TrainBPE(texts)
		if err != nil {
			b.Fatal(err)
		}
		c1 := cpuSeconds()
		ids, err := tk.IDsBatch(texts, false)
		if err != nil {
			b.Fatal(err)
		}
		train += c1 - c0
		enc += cpuSeconds() - c1
		for _, s := range ids {
			n += len(s)
		}
	}
	b.ReportMetric(train/float64(b.N), "train-cpu-s")
	b.ReportMetric(enc/float64(b.N), "encode-cpu-s")
	b.ReportMetric(float64(n)/float64(b.N), "tokens")
}
