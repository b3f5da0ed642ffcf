package tokenizer_test

import (
	"fmt"

	"github.com/golora/golora/tokenizer"
)

func ExampleBPETrainer_TrainBPE() {
	texts := []string{"the cat sat on the mat", "the dog sat on the log", "the cat and the dog"}
	tk, err := tokenizer.BPETrainer{VocabSize: 270, SpecialTokens: []string{"<|endoftext|>"}}.TrainBPE(texts)
	if err != nil {
		panic(err)
	}
	enc, _ := tk.Encode("the cat sat<|endoftext|>", false)
	fmt.Println(enc.Tokens)
	fmt.Println(tk.Decode(enc.IDs, true))
	// Output:
	// [the Ġcat Ġsat <|endoftext|>]
	// the cat sat
}
