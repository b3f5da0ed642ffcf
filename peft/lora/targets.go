package lora

import (
	"fmt"
	"strings"

	"github.com/golora/golora/nn"
)

// TargetSlots returns the Linear slots of base that cfg's target_modules,
// exclude_modules, layers_to_transform and modules_to_save select, in
// forward order, with the errors AddAdapter gives for targets that match
// nothing or match a module that is not a Linear. It is PEFT's
// check_target_module_exists, shared with the other LoRA-family methods
// (peft/adalora), which wrap the returned slots with their own layers.
// Only plain nn.Linear slots are returned; a slot already wrapped is an
// error.
func TargetSlots(base nn.Module, cfg *Config) ([]nn.Slot, error) {
	head := ""
	if h, ok := base.(HeadNamer); ok {
		head = h.OutputHead()
	}
	slotByName := map[string]nn.Slot{}
	_ = nn.Walk(base, func(x nn.Module) error {
		if s, ok := x.(nn.Slotted); ok {
			for _, sl := range s.Slots() {
				slotByName[sl.Name] = sl
			}
		}
		return nil
	})
	matchedEntry := map[string]bool{}
	seen := map[string]bool{}
	var targets []nn.Slot
	var bad []string
	_ = nn.Walk(base, func(x nn.Module) error {
		n := x.Name()
		if n == "" || seen[n] {
			return nil // a wrapper and its base share a name; judge once
		}
		seen[n] = true
		s, isSlot := slotByName[n]
		ok, entry := cfg.matches(n, isSlot, n == head)
		if !ok || cfg.excluded(n) {
			return nil
		}
		matchedEntry[entry] = true
		if !isSlot {
			bad = append(bad, n)
			return nil
		}
		targets = append(targets, s)
		return nil
	})
	if len(bad) > 0 {
		return nil, fmt.Errorf("target_modules %s match %s, which is not a Linear layer (only Linear layers can be adapted)", cfg.describeTargets(), bad[0])
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("target_modules %s match no Linear layer of the model", cfg.describeTargets())
	}
	if !cfg.TargetModules.IsRegex {
		for _, t := range cfg.TargetModules.Names {
			if !matchedEntry[t] {
				return nil, fmt.Errorf("target module %q matches no layer of the model", t)
			}
		}
	}
	for _, s := range targets {
		if _, ok := (*s.Layer).(*nn.Linear); !ok {
			return nil, fmt.Errorf("%s is already wrapped (%T); adapt a plain model", s.Name, *s.Layer)
		}
	}
	return targets, nil
}

// ModulesMatching returns the modules of base that a modules_to_save entry
// names (the full name or a dotted suffix), as PEFT's ModulesToSaveWrapper
// selects them.
func ModulesMatching(base nn.Module, entry string) []nn.Module {
	var out []nn.Module
	_ = nn.Walk(base, func(x nn.Module) error {
		n := x.Name()
		if n != "" && (n == entry || strings.HasSuffix(n, "."+entry)) {
			out = append(out, x)
		}
		return nil
	})
	return out
}
