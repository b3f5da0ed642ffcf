package main

import (
	"fmt"
	"path/filepath"

	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/adalora"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// checkTrainedHead refuses to evaluate a classifier m (loaded from
// modelDir for classes, with the adapter in adapterDir, if any, still to be
// applied) whose classification head would be freshly initialised: scores
// of a random head look like results (50 % on two classes) but mean
// nothing. The head is trained when the adapter's modules_to_save holds
// it, or else when the checkpoint stores it with one output per class. A
// causal-LM adapter on a labelled data set is refused too. hint says what
// to do instead (it depends on the command).
func checkTrainedHead(m models.Model, modelDir, adapterDir string, classes []string, hint string) error {
	head := headModule(m)
	if head == nil {
		return nil // no head to speak of: the forward pass reports it
	}
	if adapterDir != "" {
		cfg, err := adapterLoRAConfig(adapterDir)
		if err != nil {
			return err
		}
		if cfg.TaskType != nil && *cfg.TaskType == "CAUSAL_LM" {
			return fmt.Errorf("adapter %s is a CAUSAL_LM adapter (a language model's), not a classifier's; %s", adapterDir, hint)
		}
		if savesAll(m, cfg.ModulesToSave, head) {
			return nil
		}
	}
	if ok, have := checkpointHead(modelDir, head); !ok {
		src := fmt.Sprintf("%s has no trained classification head for the labels %q (%s)", modelDir, classes, have)
		if adapterDir != "" {
			src += fmt.Sprintf(" and adapter %s does not save one (modules_to_save)", adapterDir)
		}
		return fmt.Errorf("%s: it would be scored with a freshly initialised head; %s", src, hint)
	}
	return nil
}

// headModule is m's output head module (nil if it has none).
func headModule(m models.Model) nn.Module {
	name := m.OutputHead()
	if name == "" {
		return nil
	}
	for _, x := range lora.ModulesMatching(m, name) {
		if x.Name() == name {
			return x
		}
	}
	return nil
}

// adapterLoRAConfig reads the LoRA part of the adapter's config (LoRA or
// AdaLoRA).
func adapterLoRAConfig(dir string) (lora.Config, error) {
	if adalora.IsAdaLoRA(dir) {
		c, err := adalora.ReadConfig(dir)
		return c.Config, err
	}
	return lora.ReadConfig(dir)
}

// savesAll reports whether the modules_to_save entries cover every
// parameter of head (an entry may name the head, a module holding it, or
// parts of it).
func savesAll(m models.Model, modulesToSave []string, head nn.Module) bool {
	saved := map[*nn.Param]bool{}
	for _, e := range modulesToSave {
		for _, x := range lora.ModulesMatching(m, e) {
			for _, p := range nn.AllParams(x) {
				saved[p] = true
			}
		}
	}
	ps := nn.AllParams(head)
	for _, p := range ps {
		if !saved[p] {
			return false
		}
	}
	return len(ps) > 0
}

// checkpointHead reports whether the checkpoint in dir stores every
// parameter of head with its shape (one output per class); otherwise have
// says what it has. Label names are not compared: transformers, too, keeps
// a stored head of the right size whatever its id2label says.
func checkpointHead(dir string, head nn.Module) (ok bool, have string) {
	f, err := safetensors.Load(filepath.Join(dir, models.WeightsFile))
	if err != nil {
		return false, err.Error()
	}
	for _, p := range nn.AllParams(head) {
		info, found := f.Info(p.Name)
		if !found {
			return false, fmt.Sprintf("it stores no %s", p.Name)
		}
		if !tensor.SameShape(info.Shape, p.Value.Shape()) {
			return false, fmt.Sprintf("its %s has shape %v, not %v", p.Name, info.Shape, p.Value.Shape())
		}
	}
	return true, ""
}
