package main

// The model families the command line reads (each registers its
// model_type and presets with package models).
import (
	_ "github.com/golora/golora/models/bert"
	_ "github.com/golora/golora/models/llama"
	_ "github.com/golora/golora/models/vit"
)
