package main

import (
	"fmt"
	"github.com/golora/golora/collective"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/golora/golora/models"
	"github.com/golora/golora/models/llama"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/plan"
	"github.com/golora/golora/tokenizer"
	"github.com/golora/golora/train"
)

// textPretrainFlags are pretrain's LLaMA size flags (LlamaConfig's names).
type textPretrainFlags struct {
	vocabSize, kvHeads, maxPositions int
	ropeTheta                        float64
	untied                           bool
	torchDType                       string
}

func (f *textPretrainFlags) register(fs interface {
	IntVar(*int, string, int, string)
	Float64Var(*float64, string, float64, string)
	BoolVar(*bool, string, bool, string)
	StringVar(*string, string, string, string)
}) {
	fs.IntVar(&f.vocabSize, "vocab-size", 4096, "llama: vocabulary of the byte-level BPE tokenizer trained on the data (unless --tokenizer)")
	fs.IntVar(&f.kvHeads, "num-key-value-heads", 0, "llama: key/value heads (0: num_attention_heads; fewer: grouped-query attention)")
	fs.IntVar(&f.maxPositions, "max-position-embeddings", 256, "llama: context length (and, unless --block-size, the training block size)")
	fs.Float64Var(&f.ropeTheta, "rope-theta", 10000, "llama: rotary base")
	fs.BoolVar(&f.untied, "untied", false, "llama: an lm_head of its own instead of the tied embedding")
	fs.StringVar(&f.torchDType, "torch-dtype", "float32", "llama: dtype the model is saved in (torch_dtype): float32, or bfloat16 (half the size; training stays in f32)")
}

// EndOfText is the special token of the tokenizers pretrain trains: it
// separates documents and is bos, eos and pad (as GPT-2's).
const EndOfText = "<|endoftext|>"

// runPretrainText trains a LLaMA from scratch on a text corpus: a
// byte-level BPE tokenizer learnt from the training part (or the one
// given), then causal language modelling on blocks of the corpus.
func runPretrainText(a train.Args, cfgPath string, hidden, layers, heads, inter int, pf *textPretrainFlags, tf *textFlags,
	dataset string, ckpt bool, resume string, comm collective.Comm, stdout, stderr io.Writer) error {
	if pf.torchDType != "float32" && pf.torchDType != "bfloat16" {
		return usagef("pretrain: --torch-dtype %q: want float32 or bfloat16", pf.torchDType)
	}
	if pf.vocabSize < 300 || pf.maxPositions < 2 || pf.kvHeads < 0 {
		return usagef("pretrain: --vocab-size must be >= 300 (the 256 bytes and merges), --max-position-embeddings >= 2, --num-key-value-heads >= 0")
	}
	corpus, err := loadTextCorpus(dataset)
	if err != nil {
		return err
	}
	if tf.task == "classification" {
		return usagef("pretrain: a LLaMA is pretrained as a causal language model")
	}
	var tok *tokenizer.Tokenizer
	if saved := filepath.Join(a.OutputDir, TokenizerFile); resume != "" && tf.tokenizer == "" {
		if _, err := os.Stat(saved); err == nil {
			tf.tokenizer = saved // a resumed run keeps its tokenizer
		}
	}
	if tf.tokenizer != "" {
		if tok, err = tokenizer.Load(tf.tokenizer); err != nil {
			return err
		}
	} else {
		t0 := time.Now()
		tok, err = tokenizer.BPETrainer{VocabSize: pf.vocabSize, MinFrequency: 2, SpecialTokens: []string{EndOfText}}.TrainBPE(corpus.train)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "pretrain: trained a byte-level BPE tokenizer of %d tokens on %s's training part in %s\n", tok.VocabSize(), corpus.name, time.Since(t0).Round(time.Millisecond))
	}
	var cfg llama.Config
	if cfgPath != "" {
		if cfg, err = llama.LoadConfig(cfgPath); err != nil {
			return err
		}
		if cfg.VocabSize < tok.VocabSize() {
			return fmt.Errorf("%s: vocab_size %d is smaller than the tokenizer's %d", cfgPath, cfg.VocabSize, tok.VocabSize())
		}
	} else {
		kv := pf.kvHeads
		if kv == 0 {
			kv = heads
		}
		cfg = llama.Preset(hidden, layers, heads, kv, tok.VocabSize(), pf.maxPositions)
		if inter > 0 {
			cfg.IntermediateSize = inter
		}
		cfg.RopeTheta, cfg.TieWordEmbeddings, cfg.TorchDType = pf.ropeTheta, !pf.untied, pf.torchDType
		if id, ok := tok.TokenToID(EndOfText); ok {
			bos := int(id)
			cfg.BOSTokenID, cfg.EOSTokenIDs = &bos, []int{bos}
		} else {
			cfg.BOSTokenID, cfg.EOSTokenIDs = nil, nil
		}
		if err := cfg.Validate(); err != nil {
			return usagef("pretrain: %v", err)
		}
	}
	model, err := llama.New(cfg, a.Seed)
	if err != nil {
		return err
	}
	if err := checkFullTraining(model); err != nil {
		return err
	}
	for _, p := range nn.AllParams(model) {
		if err := p.SetTrainable(true); err != nil {
			return err
		}
	}
	if tf.blockSize == 0 {
		tf.blockSize = cfg.MaxPositionEmbeddings
	}
	td, err := tf.prepareText(corpus, "causal-lm", tok, model, cfg.EOSTokenIDs)
	if err != nil {
		return err
	}
	model.SetGradientCheckpointing(ckpt)
	if err := checkTrainStep(&plan.Model{Base: model, Parallel: runParallel(comm, &a)}, a.PerDeviceTrainBatchSize, a.PerDeviceEvalBatchSize); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "pretrain: LLaMA hidden %d, %d layers, %d heads (%d key/value), intermediate %d, vocabulary %d, context %d: %d parameters; %d training and %d held-out blocks of %d tokens from %s\n",
		cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.NumKeyValueHeads, cfg.IntermediateSize, cfg.VocabSize,
		cfg.MaxPositionEmbeddings, countParams(model), td.trainSet.Len(), td.evalSt.Len(), td.seqLen, corpus.name)
	r := &trainingRun{args: a, model: model, tokenizer: tok.JSON(), trainSet: td.trainSet, evalSet: td.evalSt, resume: resume, stderr: stderr,
		comm: comm, measureMem: true}
	if resume == "" && comm.Rank() == 0 {
		// The tokenizer goes first: checkpoints and the model need it.
		if err := writeTokenizer(a.OutputDir, tok.JSON()); err != nil {
			return err
		}
	}
	_, res, err := r.run()
	if err != nil {
		return err
	}
	mem := r.measure("full", a.PerDeviceTrainBatchSize)
	fmt.Fprintf(stdout, "pretrained %d steps in %s (%.1f ms/step): %s; model and tokenizer written to %s\n",
		res.GlobalStep, res.Elapsed.Round(1e9), ms(res.StepTime), describeEval("causal-lm", *res.Eval), a.OutputDir)
	if comm.Rank() != 0 {
		return nil
	}
	return mem.write(stdout, a.OutputDir)
}

// isLlamaConfig reports whether the config.json at path is a LLaMA's.
func isLlamaConfig(path string) bool {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, models.ConfigFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	f, err := models.FamilyOf(b)
	return err == nil && f.ModelType == llama.ModelType
}
