package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golora/golora/models/llama"
	"github.com/golora/golora/tokenizer"
)

func init() {
	commands["generate"] = command{"continue a prompt with a causal language model (and adapter), with a KV cache", runGenerate}
}

func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("generate", "--model DIR [--adapter DIR] --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--base-dtype nf4 [--double-quant]]", stderr)
	modelDir := fs.String("model", "", "model directory (config.json, model.safetensors, tokenizer.json)")
	adapterDir := fs.String("adapter", "", "PEFT adapter directory to apply")
	prompt := fs.String("prompt", "", "the text to continue")
	maxNew := fs.Int("max-new-tokens", 50, "tokens to generate at most (max_new_tokens)")
	temperature := fs.Float64("temperature", 0, "0: greedy decoding; > 0: sample from softmax(logits/temperature)")
	topK := fs.Int("top-k", 50, "when sampling, keep the k most likely tokens (0: all; transformers' default 50)")
	topP := fs.Float64("top-p", 1, "when sampling, keep the smallest set of tokens with this much probability (nucleus)")
	seed := fs.Uint64("seed", 0, "seed of the sampling")
	tokPath := fs.String("tokenizer", "", "tokenizer.json (default: the model directory's)")
	asJSON := fs.Bool("json", false, "print one JSON object (prompt, text, token ids, timing) instead of streaming")
	threads := fs.Int("threads", 0, "worker threads (0: all cores)")
	bf := addBaseFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("generate: unexpected argument %q (quote the prompt and pass it with --prompt)", fs.Arg(0))
	case *modelDir == "":
		return usagef("generate: --model is required")
	case *maxNew < 0:
		return usagef("generate: --max-new-tokens %d: want >= 0", *maxNew)
	case !(*temperature >= 0), *topK < 0, !(*topP > 0 && *topP <= 1):
		return usagef("generate: need --temperature >= 0, --top-k >= 0, --top-p in (0, 1]")
	}
	if err := setThreads(*threads); err != nil {
		return err
	}
	if err := checkModelDir(*modelDir); err != nil {
		return err
	}
	tok, err := loadTokenizer(*modelDir, *tokPath)
	if err != nil {
		return err
	}
	base, err := bf.storage()
	if err != nil {
		return err
	}
	lm, err := loadModel(*modelDir, *adapterDir, base)
	if err != nil {
		return err
	}
	m, ok := lm.model.(*llama.Model)
	if !ok {
		return fmt.Errorf("%s is a %s, not a causal language model", *modelDir, lm.model)
	}
	enc, err := tok.Encode(*prompt, true)
	if err != nil {
		return err
	}
	ids := enc.IDs
	if len(ids) == 0 {
		if m.Config.BOSTokenID == nil {
			return usagef("generate: the prompt is empty and the model has no bos_token_id to start from")
		}
		ids = []int32{int32(*m.Config.BOSTokenID)}
	}
	if n := m.Config.MaxPositionEmbeddings; len(ids)+*maxNew > n {
		return usagef("generate: %d prompt tokens + %d new tokens exceed the model's context of %d", len(ids), *maxNew, n)
	}
	if err := checkForward(m, 1, 1); err != nil {
		return err
	}
	o := llama.GenerateOptions{MaxNewTokens: *maxNew, Temperature: *temperature, TopK: *topK, TopP: *topP, Seed: *seed, EOS: m.Config.EOSTokenIDs}
	var out []int32
	printed := 0
	if !*asJSON {
		fmt.Fprint(stdout, *prompt)
	}
	start := time.Now()
	var first time.Duration
	gen, err := m.Generate(ids, o, func(id int32) bool {
		if first == 0 {
			first = time.Since(start)
		}
		out = append(out, id)
		if *asJSON {
			return true
		}
		// Stream what decodes to whole characters so far.
		s := continuation(tok, ids, out)
		if !strings.HasSuffix(s, string(utf8.RuneError)) && len(s) > printed {
			fmt.Fprint(stdout, s[printed:])
			printed = len(s)
		}
		return true
	})
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	text := continuation(tok, ids, gen)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"prompt": *prompt, "prompt_ids": ids, "generated_ids": gen, "text": text,
			"prefill_ms": ms(first), "total_ms": ms(elapsed), "new_tokens": len(gen),
		})
	}
	if len(text) > printed {
		fmt.Fprint(stdout, text[printed:])
	}
	fmt.Fprintln(stdout)
	perTok := "-"
	if len(gen) > 1 {
		perTok = strconv.FormatFloat(ms(elapsed-first)/float64(len(gen)-1), 'f', 1, 64) + " ms/token"
	}
	fmt.Fprintf(stderr, "generate: %d prompt + %d new tokens; prompt %.1f ms, then %s (KV cache)\n", len(ids), len(gen), ms(first), perTok)
	return nil
}

// continuation is the text gen adds to prompt: the decoding of prompt and
// gen together after that of prompt alone, as transformers' TextStreamer
// prints it. Decoding gen alone would lose its first space under decoders
// that strip the start of a text (Metaspace, Strip: Llama-2's "Call
// meIshmael").
func continuation(tok *tokenizer.Tokenizer, prompt, gen []int32) string {
	pre := tok.Decode(prompt, true)
	all := tok.Decode(append(slices.Clip(prompt), gen...), true)
	if s, ok := strings.CutPrefix(all, pre); ok {
		return s
	}
	return tok.Decode(gen, true) // the prompt decodes otherwise in context
}
