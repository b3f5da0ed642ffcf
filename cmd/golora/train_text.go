package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/plan"
	"github.com/golora/golora/tokenizer"
	"github.com/golora/golora/train"
)

// textFlags are the text-data flags of train, eval and pretrain, with
// run_clm's / run_glue's names.
type textFlags struct {
	task            string
	maxSeqLength    int
	blockSize       int
	maxTrainSamples int
	maxEvalSamples  int
	tokenizer       string
	truncationSide  string
	// evalOnly (eval's, not a flag) prepares the held-out part alone:
	// evaluating need not tokenize a whole training corpus.
	evalOnly bool
}

func (f *textFlags) register(fs interface {
	IntVar(*int, string, int, string)
	StringVar(*string, string, string, string)
}) {
	fs.StringVar(&f.task, "task", "", "text: causal-lm or classification (default: classification for labelled data such as imdb, causal-lm otherwise)")
	f.registerLength(fs)
	fs.IntVar(&f.maxTrainSamples, "max-train-samples", 0, "text: use only the first N training examples (0: all)")
	fs.IntVar(&f.maxEvalSamples, "max-eval-samples", 0, "text: evaluate only the first N held-out examples (0: all)")
	fs.StringVar(&f.tokenizer, "tokenizer", "", "text: tokenizer.json to use (default: the model directory's)")
	fs.StringVar(&f.truncationSide, "truncation-side", "right", "text classification: which end of a long text is cut (transformers' truncation_side): right keeps its beginning, left its end")
}

func (f *textFlags) check(cmd string) error {
	switch {
	case f.task != "" && f.task != "causal-lm" && f.task != "classification":
		return usagef("%s: --task %q: want causal-lm or classification", cmd, f.task)
	case f.truncationSide != "" && f.truncationSide != "right" && f.truncationSide != "left":
		return usagef("%s: --truncation-side %q: want right or left", cmd, f.truncationSide)
	case f.maxTrainSamples < 0 || f.maxEvalSamples < 0:
		return usagef("%s: --max-train-samples, --max-eval-samples must be >= 0", cmd)
	}
	return f.checkLength(cmd)
}

// registerLength registers the sequence-length flags alone (plan and
// bench train, which read no data, take these).
func (f *textFlags) registerLength(fs interface {
	IntVar(*int, string, int, string)
}) {
	fs.IntVar(&f.maxSeqLength, "max-seq-length", 128, "text classification: tokens per example, longer ones truncated (run_glue's max_seq_length)")
	fs.IntVar(&f.blockSize, "block-size", 0, "causal LM: tokens per block of the grouped corpus (0: min(1024, max_position_embeddings), as run_clm)")
}

func (f *textFlags) checkLength(cmd string) error {
	switch {
	case f.maxSeqLength < 1 || f.blockSize < 0:
		return usagef("%s: --max-seq-length must be >= 1, --block-size >= 0", cmd)
	case f.blockSize == 1:
		return usagef("%s: --block-size 1: a causal LM block needs at least 2 tokens (one to read, one to predict)", cmd)
	}
	return nil
}

// blockLen is a causal LM's tokens per block for a model of maxPos
// positions: --block-size, else min(1024, maxPos) (run_clm's default).
func (f *textFlags) blockLen(maxPos int) (int, error) {
	n := f.blockSize
	if n == 0 {
		n = min(1024, maxPos)
	}
	if n > maxPos {
		return 0, usagef("--block-size %d exceeds the model's max_position_embeddings %d", n, maxPos)
	}
	return n, nil
}

// classLen is a classifier's tokens per example for a model of maxPos
// positions: --max-seq-length, at most maxPos (run_glue's min).
func (f *textFlags) classLen(maxPos int) int { return min(f.maxSeqLength, maxPos) }

// open checks the model directory and loads its tokenizer (or
// --tokenizer), the data set and the task the flags and the data ask for:
// what every text command starts with.
func (f *textFlags) open(modelDir, dataset string) (*tokenizer.Tokenizer, *textCorpus, string, error) {
	if err := checkModelDir(modelDir); err != nil {
		return nil, nil, "", err
	}
	tok, err := loadTokenizer(modelDir, f.tokenizer)
	if err != nil {
		return nil, nil, "", err
	}
	corpus, err := loadTextCorpus(dataset)
	if err != nil {
		return nil, nil, "", err
	}
	task, err := f.taskOf(corpus)
	if err != nil {
		return nil, nil, "", err
	}
	return tok, corpus, task, nil
}

// textData is a tokenized corpus ready for training: datasets for the
// trainer, the task, the classes, the sequence length used.
type textData struct {
	corpus           *textCorpus
	task             string
	trainSet, evalSt *train.Tokens
	seqLen           int
}

// taskOf returns the task for the corpus (flag, else by labels).
func (f *textFlags) taskOf(c *textCorpus) (string, error) {
	task := f.task
	if task == "" {
		task = "causal-lm"
		if c.classes != nil {
			task = "classification"
		}
	}
	if task == "classification" && c.classes == nil {
		return "", fmt.Errorf("%s has no labels: it can be used for causal-lm, not classification", c.name)
	}
	return task, nil
}

// prepareText tokenizes the corpus for model m (a causal LM for
// "causal-lm", a classifier for "classification") and sets the model's
// sequence length.
func (f *textFlags) prepareText(c *textCorpus, task string, tok *tokenizer.Tokenizer, m models.Model, eosIDs []int) (*textData, error) {
	spec := m.Spec()
	sl, ok := m.(models.SeqLener)
	if !ok || !spec.Text() {
		return nil, fmt.Errorf("%s reads images, not text", m)
	}
	maxPos := spec.SeqLen
	pad, _ := padID(tok, eosIDs)
	td := &textData{corpus: c, task: task}
	var err error
	switch task {
	case "causal-lm":
		if !spec.PerToken {
			return nil, fmt.Errorf("%s is not a causal language model (task causal-lm)", m)
		}
		if td.seqLen, err = f.blockLen(maxPos); err != nil {
			return nil, err
		}
		eos, hasEOS := specialID(tok, eosNames...)
		if len(eosIDs) > 0 {
			eos, hasEOS = int32(eosIDs[0]), true
		}
		// Assigned, not declared: a := here would shadow err, and the
		// CausalLM errors below would be lost.
		var trainBlocks, evalBlocks [][]int32
		if !f.evalOnly {
			if trainBlocks, err = tokenizeLM(tok, c.train, eos, hasEOS, td.seqLen); err != nil {
				return nil, err
			}
		}
		if evalBlocks, err = tokenizeLM(tok, c.test, eos, hasEOS, td.seqLen); err != nil {
			return nil, err
		}
		if len(evalBlocks) == 0 || !f.evalOnly && len(trainBlocks) == 0 {
			return nil, fmt.Errorf("%s: fewer tokens than one block of %d (train %d, validation %d blocks); lower --block-size", c.name, td.seqLen, len(trainBlocks), len(evalBlocks))
		}
		trainBlocks, evalBlocks = limit(trainBlocks, f.maxTrainSamples), limit(evalBlocks, f.maxEvalSamples)
		for _, s := range []struct {
			what string
			b    [][]int32
		}{{"training data", trainBlocks}, {"validation data", evalBlocks}} {
			if err := checkVocab(s.b, spec.Vocab, s.what); err != nil {
				return nil, err
			}
		}
		if !f.evalOnly {
			td.trainSet, err = train.CausalLM(trainBlocks, pad)
		}
		if err == nil {
			td.evalSt, err = train.CausalLM(evalBlocks, pad)
		}
	case "classification":
		if spec.PerToken {
			return nil, fmt.Errorf("%s is a causal language model; load it with a classification head (task classification)", m)
		}
		td.seqLen = f.classLen(maxPos)
		trainDocs, trainLabels := limit(c.train, f.maxTrainSamples), limit(c.trainLabels, f.maxTrainSamples)
		testDocs, testLabels := limit(c.test, f.maxEvalSamples), limit(c.testLabels, f.maxEvalSamples)
		var trainSeqs, testSeqs [][]int32
		if !f.evalOnly {
			if trainSeqs, err = tokenizeClassification(tok, trainDocs, td.seqLen, f.truncationSide); err != nil {
				return nil, err
			}
		}
		if testSeqs, err = tokenizeClassification(tok, testDocs, td.seqLen, f.truncationSide); err != nil {
			return nil, err
		}
		if err := checkVocab(trainSeqs, spec.Vocab, "training data"); err != nil {
			return nil, err
		}
		if err := checkVocab(testSeqs, spec.Vocab, "test data"); err != nil {
			return nil, err
		}
		if !f.evalOnly {
			td.trainSet, err = train.SequenceClassification(trainSeqs, trainLabels, len(c.classes), pad)
		}
		if err == nil {
			td.evalSt, err = train.SequenceClassification(testSeqs, testLabels, len(c.classes), pad)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := sl.SetSeqLen(td.seqLen); err != nil {
		return nil, err
	}
	return td, nil
}

// eosOf returns a text model's eos_token_id list, if its config has one.
func eosOf(m models.Model) []int {
	if e, ok := m.(interface{ EOS() []int }); ok {
		return e.EOS()
	}
	return nil
}

// loadTextModel loads the model in dir for task: a classifier with a head
// for classes (fresh unless the checkpoint has exactly these labels), or
// a causal LM.
func loadTextModel(dir, task string, classes []string, seed uint64) (models.Model, error) {
	if task != "classification" {
		return models.Load(dir, models.LoadOptions{Seed: seed})
	}
	m, err := models.Load(dir, models.LoadOptions{Seed: seed, NumLabels: len(classes), Labels: classes})
	if err != nil {
		return nil, err
	}
	if !sameLabels(m, classes) {
		c, ok := m.(models.Classifier)
		if !ok {
			return nil, fmt.Errorf("%s has no classification head", dir)
		}
		if err := c.NewHead(classes, seed); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// runTrainText is train on a text data set: causal language modelling or
// sequence classification, with LoRA or in full.
func runTrainText(a train.Args, lf *loraFlags, tf *textFlags, modelDir, method, dataset string, base nn.Storage, comm collective.Comm, ckpt bool, resume string, stdout, stderr io.Writer) error {
	tok, corpus, task, err := tf.open(modelDir, dataset)
	if err != nil {
		return err
	}
	m, err := loadTextModel(modelDir, task, corpus.classes, a.Seed)
	if err != nil {
		return err
	}
	td, err := tf.prepareText(corpus, task, tok, m, eosOf(m))
	if err != nil {
		return err
	}
	if err := recordPad(m, tok, eosOf(m)); err != nil { // saved with a full fine-tune
		return err
	}
	r := &trainingRun{model: m, tokenizer: tok.JSON()}
	lf.baseModel = modelDir
	switch method {
	case "full":
		if err := checkFullTraining(m); err != nil {
			return err
		}
		for _, p := range nn.AllParams(m) {
			if err := p.SetTrainable(true); err != nil {
				return err
			}
		}
	case "adalora":
		lf.adaloraTotal = a.TotalSteps(td.trainSet.Len())
		if err := r.injectAdaLoRA(m, lf, a.Seed); err != nil {
			return err
		}
	default:
		cfg, err := lf.config(m)
		if err != nil {
			return err
		}
		tt := taskType(task)
		cfg.TaskType = &tt
		if r.lora, err = lora.Inject(m, cfg, a.Seed); err != nil {
			return err
		}
		r.loraPlus = lf.family.loraPlus()
	}
	nn.SetTraining(m, true)
	// Trainability is decided: only frozen weights are converted.
	if err := r.storeBase(base); err != nil {
		return err
	}
	m.SetGradientCheckpointing(ckpt)
	if err := checkTrainStep(&plan.Model{Base: m, LoRA: r.lora, Parallel: runParallel(comm, &a)}, a.PerDeviceTrainBatchSize, a.PerDeviceEvalBatchSize); err != nil {
		return err
	}
	r.trainSet, r.evalSet = td.trainSet, td.evalSt
	r.args, r.resume, r.stderr, r.comm = a, resume, stderr, comm
	trainable, total := r.counts()
	unit := "blocks of " + fmt.Sprint(td.seqLen) + " tokens"
	if task == "classification" {
		unit = fmt.Sprintf("texts (%d classes, up to %d tokens)", len(corpus.classes), td.seqLen)
	}
	fmt.Fprintf(stderr, "train: %s %s on %s: %d training and %d held-out %s; trainable params %d of %d (%.2f%%)\n",
		method, task, corpus.name, td.trainSet.Len(), td.evalSt.Len(), unit, trainable, total, 100*float64(trainable)/float64(total))
	if comm.Size() > 1 {
		fmt.Fprintf(stderr, "train: %d data-parallel ranks, %d kernel threads each, ZeRO stage %d, global batch %d\n",
			comm.Size(), kernels.Threads(), a.ZeroStage, comm.Size()*a.PerDeviceTrainBatchSize*a.GradientAccumulationSteps)
	}
	r.measureMem = true
	_, res, err := r.run()
	if err != nil {
		return err
	}
	mem := r.measure(method, a.PerDeviceTrainBatchSize)
	what := "model"
	if r.lora != nil || r.adalora != nil {
		what = "PEFT adapter"
	}
	fmt.Fprintf(stdout, "trained %d steps in %s (%.1f ms/step): %s; %s written to %s\n",
		res.GlobalStep, res.Elapsed.Round(1e9), ms(res.StepTime), describeEval(task, *res.Eval), what, a.OutputDir)
	if comm.Rank() != 0 {
		return nil
	}
	return mem.write(stdout, a.OutputDir)
}

// describeEval renders an evaluation: perplexity for language modelling,
// accuracy for classification.
func describeEval(task string, e train.EvalResult) string {
	if task == "causal-lm" {
		return fmt.Sprintf("held-out loss %.4f, perplexity %.2f (%d tokens)", e.Loss, e.Perplexity(), e.Targets)
	}
	return fmt.Sprintf("test loss %.4f, accuracy %.2f%%", e.Loss, 100*e.Accuracy)
}

// writeTokenizer saves a tokenizer.json beside a model.
func writeTokenizer(dir string, b []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, TokenizerFile), func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}, 0o644)
}

// taskType is PEFT's task_type of a text task.
func taskType(task string) string {
	if task == "classification" {
		return "SEQ_CLS"
	}
	return "CAUSAL_LM"
}

// flagGiven reports whether the flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// textEvalBatch is the evaluation batch of a text run: the training
// batch unless given. A language model's evaluation buffers (logits and
// probabilities over the vocabulary for every token) grow with it, and a
// larger evaluation batch than the training one would set the run's peak
// memory.
func textEvalBatch(fs *flag.FlagSet, a *train.Args) {
	if !flagGiven(fs, "per-device-eval-batch-size") {
		a.PerDeviceEvalBatchSize = a.PerDeviceTrainBatchSize
	}
}
