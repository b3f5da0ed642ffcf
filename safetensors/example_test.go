package safetensors_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

func Example() {
	w := tensor.FromF32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	tensors := map[string]*tensor.Tensor{
		"base_model.model.classifier.weight": w,
		"base_model.model.classifier.bias":   tensor.New(tensor.BF16, 2),
	}
	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, tensors, map[string]string{"format": "pt"}); err != nil {
		log.Fatal(err)
	}

	f, err := safetensors.Parse(buf.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("metadata:", f.Metadata)
	for _, name := range f.Names() {
		info, _ := f.Info(name)
		fmt.Println(name, info.DType, info.Shape, info.DataOffsets)
	}
	x, err := f.Tensor("base_model.model.classifier.weight")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(x, x.F32())
	// Output:
	// metadata: map[format:pt]
	// base_model.model.classifier.bias BF16 [2] [24 28]
	// base_model.model.classifier.weight F32 [2 3] [0 24]
	// F32[2 3] [1 2 3 4 5 6]
}
