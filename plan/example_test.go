package plan_test

import (
	"fmt"

	"github.com/golora/golora/memory"
	_ "github.com/golora/golora/models/vit" // registers the vit presets
	"github.com/golora/golora/plan"
	"github.com/golora/golora/tensor"
)

// Predict the memory of LoRA (r 16 on query and value, the classifier
// saved) against full fine-tuning of the vit-small-64 preset at batch 32.
func Example() {
	src, err := plan.FromPreset("vit-small-64")
	if err != nil {
		panic(err)
	}
	base, err := src(false, 1)
	if err != nil {
		panic(err)
	}
	for _, method := range []string{"full", "lora"} {
		s := plan.Setup{Base: src, Method: method, LoRA: plan.DefaultLoRA(base), BaseDType: tensor.F32}
		e, err := plan.Predict(s, 32)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-4s gradients %5.1f MiB, optimizer %5.1f MiB, activations %6.1f MiB, dW %5.2f GFLOP\n", method,
			mib(e.Bytes[memory.Gradients]), mib(e.Bytes[memory.Optimizer]), mib(e.Bytes[memory.Activations]), float64(e.BackwardDW)/1e9)
	}
	// Output:
	// full gradients  10.4 MiB, optimizer  20.8 MiB, activations  103.9 MiB, dW 11.19 GFLOP
	// lora gradients   0.3 MiB, optimizer   0.6 MiB, activations   93.3 MiB, dW  0.31 GFLOP
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
