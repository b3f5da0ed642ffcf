package nn

// BatchSharder is implemented by modules that draw random masks
// (dropout) and so must know, under data parallelism, where their batch
// sits in the global batch.
type BatchSharder interface {
	SetBatchShard(index int)
}

// SetBatchShard tells every BatchSharder of the tree that its batches are
// part index of a global batch split into equal consecutive parts (the
// data-parallel rank; 0 in a single process). A module's masks are drawn
// at the counter offset ShardOffset(index, n) of a batch-major tensor of n
// values, so every element gets the mask bit it would get at that place of
// the global batch's tensor: N ranks with batch b draw exactly the masks of
// one process with batch N·b.
func SetBatchShard(m Module, index int) {
	_ = Walk(m, func(x Module) error {
		if s, ok := x.(BatchSharder); ok {
			s.SetBatchShard(index)
		}
		return nil
	})
}

// ShardOffset is the dropout counter offset of a batch-major tensor of n
// values in part index of the global batch: the part's first element's
// position in the global tensor.
func ShardOffset(index uint64, n int) uint64 { return index * uint64(n) }
