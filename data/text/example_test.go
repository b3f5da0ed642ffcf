package text_test

import (
	"fmt"

	"github.com/golora/golora/data/text"
)

func ExampleGroupTexts() {
	docs := [][]int32{{1, 2, 3}, {4, 5}, {6, 7, 8, 9}}
	blocks, _ := text.GroupTexts(docs, 4, 0)
	fmt.Println(blocks)
	b, _ := text.PadBatch([][]int32{{1, 2, 3}, {4}}, 0, text.PadOptions{})
	fmt.Println(b.InputIDs, b.AttentionMask, b.Labels)
	// Output:
	// [[1 2 3 4] [5 6 7 8]]
	// [1 2 3 4 0 0] [1 1 1 1 0 0] [1 2 3 4 -100 -100]
}
