package nn

import (
	"fmt"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// KVCache holds the keys (after the rotary embedding) and values of the
// tokens an attention layer has seen, for generation: each Forward appends
// its new tokens and attends over all of them, so a step costs one token's
// projections instead of the whole sequence's.
type KVCache struct {
	K, V *tensor.Tensor // [B, Cap, width]
	Len  int            // tokens held per sequence
}

// NewKVCache returns an empty cache for b sequences of up to capacity
// tokens of width values (key/value heads · head dim), counted as
// activations.
func NewKVCache(b, capacity, width int) *KVCache {
	return &KVCache{K: memory.Tensor(memory.Activations, b, capacity, width), V: memory.Tensor(memory.Activations, b, capacity, width)}
}

// Cap is the number of tokens a sequence may hold.
func (c *KVCache) Cap() int { return c.K.Dim(1) }

// Reset empties the cache (the buffers stay).
func (c *KVCache) Reset() { c.Len = 0 }

// add appends t tokens of keys and values [b, t, width] and returns the
// cache's keys and values, the number of tokens now held and the stride
// between sequences.
func (c *KVCache) add(name string, k, v []float32, b, t int) (keys, values []float32, n, stride int) {
	B, capacity, w := c.K.Dim(0), c.K.Dim(1), c.K.Dim(2)
	if b != B || len(k) != b*t*w || len(v) != b*t*w {
		panic(fmt.Sprintf("nn: %s: %d sequences of %d tokens do not fit a KV cache of %d sequences of width %d", name, b, t, B, w))
	}
	if c.Len+t > capacity {
		panic(fmt.Sprintf("nn: %s: KV cache full: %d + %d tokens exceed its %d", name, c.Len, t, capacity))
	}
	K, V := c.K.F32(), c.V.F32()
	for s := 0; s < b; s++ {
		copy(K[(s*capacity+c.Len)*w:], k[s*t*w:(s+1)*t*w])
		copy(V[(s*capacity+c.Len)*w:], v[s*t*w:(s+1)*t*w])
	}
	c.Len += t
	return K, V, c.Len, capacity * w
}
