package memory_test

import (
	"fmt"

	"github.com/golora/golora/memory"
)

func Example() {
	before := memory.Take().Allocated
	act := memory.Tensor(memory.Activations, 8, 197, 192) // a [B, T, H] buffer
	grown := memory.Take().Allocated.Sub(before)
	fmt.Println(act.Shape(), grown[memory.Activations], "bytes of activations")
	// Output: [8 197 192] 1210368 bytes of activations
}
