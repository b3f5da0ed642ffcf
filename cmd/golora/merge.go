package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/golora/golora/internal/atomicfile"

	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/adalora"
	"github.com/golora/golora/peft/lora"
)

func init() {
	commands["merge"] = command{summary: "merge a LoRA (or DoRA, AdaLoRA) adapter into its base and write a plain HF model", run: runMerge}
}

func runMerge(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("merge", "--model DIR --adapter DIR --out DIR", stderr)
	model := fs.String("model", "", "base model directory (config.json + model.safetensors)")
	adapter := fs.String("adapter", "", "PEFT LoRA adapter directory")
	out := fs.String("out", "", "output directory for the merged model")
	if err := parseFlags(fs, args); err != nil {
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
	base, err := models.Load(*model, models.LoadOptions{})
	if err != nil {
		return err
	}
	var plain nn.Module
	if adalora.IsAdaLoRA(*adapter) {
		m, err := adalora.Load(base, *adapter)
		if err != nil {
			return err
		}
		plain, err = m.MergeAndUnload()
		if err != nil {
			return err
		}
	} else {
		m, err := lora.Load(base, *adapter)
		if err != nil {
			return err
		}
		if plain, err = m.MergeAndUnload(); err != nil {
			return err
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
	fmt.Fprintf(stdout, "merged %s into %s: wrote %s\n", *adapter, *model, *out)
	return nil
}
