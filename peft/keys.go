package peft

import (
	"path/filepath"
	"strings"
)

// File names of a PEFT adapter directory, as PEFT's utils/constants.py.
const (
	ConfigName  = "adapter_config.json"
	WeightsName = "adapter_model.safetensors"
	// DefaultAdapter is PEFT's name for the first adapter.
	DefaultAdapter = "default"
)

// KeyPrefix is what PeftModel prepends to every stored key: PeftModel's
// base_model is the tuner (LoraModel) whose .model is the HF model.
const KeyPrefix = "base_model.model."

// StateKey returns the stored key for a module parameter: the HF path with
// KeyPrefix (adapter names are never part of stored keys).
func StateKey(hfName string) string { return KeyPrefix + hfName }

// ModuleName strips KeyPrefix from a stored key; ok is false when the key
// lacks it.
func ModuleName(key string) (name string, ok bool) {
	if !strings.HasPrefix(key, KeyPrefix) {
		return "", false
	}
	return key[len(KeyPrefix):], true
}

// AdapterDir is where PEFT's save_pretrained puts adapter name under dir:
// dir itself for "default", dir/<name> otherwise.
func AdapterDir(dir, name string) string {
	if name == "" || name == DefaultAdapter {
		return dir
	}
	return filepath.Join(dir, name)
}
