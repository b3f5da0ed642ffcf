package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/internal/sizecheck"

	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

func init() {
	commands["merge"] = command{summary: "merge a LoRA (or DoRA, AdaLoRA) adapter into its base and write a plain HF model", run: runMerge}
}

func runMerge(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("merge", "--model DIR --adapter DIR --out DIR [--base-dtype nf4 [--double-quant]]", stderr)
	model := fs.String("model", "", "base model directory (config.json + model.safetensors)")
	adapter := fs.String("adapter", "", "PEFT LoRA adapter directory")
	out := fs.String("out", "", "output directory for the merged model")
	bf := addBaseFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	base, err := bf.storage()
	if err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("merge: unexpected argument %q", fs.Arg(0))
	case *model == "" || *adapter == "" || *out == "":
		return usagef("merge: --model, --adapter and --out are required")
	}
	if _, err := os.Stat(*out); err == nil {
		if entries, _ := os.ReadDir(*out); len(entries) > 0 {
			return fmt.Errorf("merge: output directory %s is not empty", *out)
		}
	}
	// loadModel sizes a classification head from the adapter and, for a
	// quantised base (the one a QLoRA adapter was trained on), stores the
	// base so. Merging dequantises: the merged layers are dequant(W) +
	// s·B·A, and every other stored weight is dequantised too, so the
	// output is a plain f32 model, as PEFT's merge_and_unload followed by
	// dequantize.
	lm, err := loadModel(*model, *adapter, base)
	if err != nil {
		return err
	}
	var plain nn.Module
	if lm.adalora != nil {
		plain, err = lm.adalora.MergeAndUnload()
	} else {
		plain, err = lm.lora.MergeAndUnload()
	}
	if err != nil {
		return err
	}
	if _, err := nn.ConvertFrozenLinears(plain, nn.Storage{DType: tensor.F32}); err != nil {
		return err
	}
	// A text model's config records the pad its training used (a null
	// pad_token_id keeps transformers' sequence classifiers at batches of
	// one).
	if hasTokenizer(*model) {
		tok, err := loadTokenizer(*model, "")
		if err != nil {
			return err
		}
		if err := recordPad(plain, tok, eosOf(lm.model)); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
	}
	if err := plain.(models.Model).Save(*out); err != nil {
		return err
	}
	// The merged model reads images exactly as the base did.
	if pre, err := os.ReadFile(filepath.Join(*model, ProcessorFile)); err == nil {
		err = atomicfile.WriteFile(filepath.Join(*out, ProcessorFile), func(w io.Writer) error {
			_, err := w.Write(pre)
			return err
		}, 0o644)
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
	}
	// A text model keeps the base's tokenizer.
	if tok, err := sizecheck.ReadFile(filepath.Join(*model, TokenizerFile), sizecheck.MaxConfigFile); err == nil {
		if err := writeTokenizer(*out, tok); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
	}
	into := *model
	if base.DType != tensor.F32 {
		into += " stored as " + base.String() + " (dequantised)"
	}
	fmt.Fprintf(stdout, "merged %s into %s: wrote %s\n", *adapter, into, *out)
	return nil
}
