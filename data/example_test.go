package data_test

import (
	"fmt"
	"log"

	"github.com/golora/golora/data"
)

// Fine-tune on digits 5-9 of MNIST, relabelled 0-4, at ViT's input size.
func Example() {
	train, err := data.LoadMNIST(data.Train)
	if err != nil {
		fmt.Println("MNIST not available:", err)
		return
	}
	digits, err := train.SelectClasses(5, 6, 7, 8, 9)
	if err != nil {
		log.Fatal(err)
	}
	fit, val, err := digits.SplitValidation(0.1, 1)
	if err != nil {
		log.Fatal(err)
	}
	cfg := data.DefaultProcessorConfig() // ViTImageProcessor: 224×224, mean/std 0.5
	proc, err := data.NewProcessor(cfg, 3)
	if err != nil {
		log.Fatal(err)
	}
	loader, err := data.NewLoader(fit, proc, data.LoaderConfig{BatchSize: 32, DropLast: true, Shuffle: true, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	loader.Next()
	pixels, labels := loader.Batch()
	fmt.Println(digits.Classes, fit.Len(), val.Len())
	fmt.Println(len(pixels), len(labels), loader.BatchesPerEpoch())
	// Output:
	// [5 6 7 8 9] 26464 2940
	// 4816896 32 827
}
