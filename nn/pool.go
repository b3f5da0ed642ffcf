package nn

import (
	"fmt"
	"reflect"

	"github.com/golora/golora/tensor"
)

// Buffered is implemented by modules that own reusable buffers: Buffers
// returns pointers to their fields, the activations (written by Forward)
// and the workspace (used within one call: nothing in it is read by a
// later call), so a model can hand one block's buffers to the next.
// Blocks run one after another, so they can share one set of workspace;
// gradient checkpointing shares the activations too.
type Buffered interface {
	Buffers() (act, work []**tensor.Tensor)
}

// Parking holds the own buffers of wrappers (a LoRA layer) whose
// counterpart in the other block is the bare wrapped layer, as with PEFT's
// layers_to_transform, by position in the tree: they wait there for the
// next block that has the wrapper at that position, so blocks of differing
// structure still share one set.
type Parking map[string]*tensor.Tensor

// SwapBuffers exchanges the buffers of two modules of the same structure,
// walking both trees in parallel: the workspace only, or with all also the
// activations. Where the types differ, a single-child wrapper is matched by
// its child and its own buffers are exchanged with park (which may be nil
// to leave them in place); other differing subtrees are left alone.
// Buffers keep their accounting: only their owner changes.
func SwapBuffers(a, b Module, all bool, park Parking) { swapTree(a, b, all, park, "") }

func swapTree(a, b Module, all bool, park Parking, path string) {
	if a == nil || b == nil || a == b {
		return
	}
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		if c := a.Children(); len(c) == 1 && reflect.TypeOf(c[0]) == reflect.TypeOf(b) {
			parkOwn(a, all, park, path)
			swapTree(c[0], b, all, park, path)
		} else if c := b.Children(); len(c) == 1 && reflect.TypeOf(c[0]) == reflect.TypeOf(a) {
			parkOwn(b, all, park, path)
			swapTree(a, c[0], all, park, path)
		}
		return
	}
	if ab, ok := a.(Buffered); ok {
		aa, aw := ab.Buffers()
		ba, bw := b.(Buffered).Buffers()
		swap(aw, bw)
		if all {
			swap(aa, ba)
		}
	}
	ac, bc := a.Children(), b.Children()
	if len(ac) != len(bc) {
		return
	}
	for i := range ac {
		swapTree(ac[i], bc[i], all, park, fmt.Sprintf("%s/%d", path, i))
	}
}

// parkOwn exchanges wrapper w's own buffers with the parked ones.
func parkOwn(w Module, all bool, park Parking, path string) {
	bw, ok := w.(Buffered)
	if !ok || park == nil {
		return
	}
	act, work := bw.Buffers()
	for i, p := range work {
		k := fmt.Sprintf("%s w%d", path, i)
		*p, park[k] = park[k], *p
	}
	if all {
		for i, p := range act {
			k := fmt.Sprintf("%s a%d", path, i)
			*p, park[k] = park[k], *p
		}
	}
}

func swap(a, b []**tensor.Tensor) {
	for i, p := range a {
		*p, *b[i] = *b[i], *p
	}
}
