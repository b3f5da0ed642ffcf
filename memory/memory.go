package memory

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/golora/golora/tensor"
)

// Category is what a buffer is for.
type Category int

// The categories. Weights are split by storage dtype (WeightCategories);
// Bytes.Weights sums them. A quantised dtype's bytes include its scales.
const (
	WeightsF32 Category = iota
	WeightsBF16
	WeightsF16
	WeightsInt8 // int8 codes and one f32 scale per row
	WeightsNF4  // packed 4-bit codes and the block absmax (or, double-quantised, their 8-bit codes, second-level scales and offset)
	Gradients
	Optimizer
	Activations // written by a forward and kept for its backward
	Workspace   // transient: backward outputs, scratch
	Data        // input batches
	NumCategories
)

var names = [NumCategories]string{"weights_f32", "weights_bf16", "weights_f16", "weights_int8", "weights_nf4",
	"gradients", "optimizer", "activations", "workspace", "data"}

// WeightCategories are the weight categories, one per storage dtype, in
// the order of tensor.DTypes.
var WeightCategories = []Category{WeightsF32, WeightsBF16, WeightsF16, WeightsInt8, WeightsNF4}

// String is the category's snake-case name.
func (c Category) String() string {
	if c < 0 || c >= NumCategories {
		return fmt.Sprintf("Category(%d)", int(c))
	}
	return names[c]
}

// WeightsOf is the weights category of storage dtype dt.
func WeightsOf(dt tensor.DType) Category {
	for i, d := range tensor.DTypes {
		if d == dt {
			return WeightCategories[i]
		}
	}
	panic(fmt.Sprintf("memory: no weights category for dtype %v", dt))
}

// DType is the storage dtype of a weights category (ok false for the
// other categories).
func (c Category) DType() (dt tensor.DType, ok bool) {
	for i, w := range WeightCategories {
		if w == c {
			return tensor.DTypes[i], true
		}
	}
	return 0, false
}

// Bytes is a byte count per category.
type Bytes [NumCategories]int64

// Weights is the weight bytes of all dtypes.
func (b Bytes) Weights() int64 {
	var w int64
	for _, c := range WeightCategories {
		w += b[c]
	}
	return w
}

// WeightsByDType is the weight bytes of each dtype that has any, keyed by
// the dtype's name ("F32", "BF16", "F16", "INT8", "NF4").
func (b Bytes) WeightsByDType() map[string]int64 {
	m := map[string]int64{}
	for _, c := range WeightCategories {
		if b[c] != 0 {
			dt, _ := c.DType()
			m[dt.String()] = b[c]
		}
	}
	return m
}

// Total is the sum over all categories.
func (b Bytes) Total() int64 {
	var t int64
	for _, v := range b {
		t += v
	}
	return t
}

// Add returns b + o.
func (b Bytes) Add(o Bytes) Bytes {
	for i := range b {
		b[i] += o[i]
	}
	return b
}

// Sub returns b - o.
func (b Bytes) Sub(o Bytes) Bytes {
	for i := range b {
		b[i] -= o[i]
	}
	return b
}

// Max returns the elementwise maximum of b and o.
func (b Bytes) Max(o Bytes) Bytes {
	for i := range b {
		b[i] = max(b[i], o[i])
	}
	return b
}

// Map returns the categories as the reports' JSON object: weights (all
// dtypes), gradients, optimizer, activations, workspace, data, and the
// weights of each dtype that has any as weights_<dtype> ("weights_nf4").
func (b Bytes) Map() map[string]int64 {
	m := map[string]int64{
		"weights":     b.Weights(),
		"gradients":   b[Gradients],
		"optimizer":   b[Optimizer],
		"activations": b[Activations],
		"workspace":   b[Workspace],
		"data":        b[Data],
	}
	for _, c := range WeightCategories {
		if b[c] != 0 {
			m[c.String()] = b[c]
		}
	}
	return m
}

// MarshalJSON writes Map.
func (b Bytes) MarshalJSON() ([]byte, error) { return json.Marshal(b.Map()) }

// Snapshot is the accounting at one moment.
type Snapshot struct {
	Live Bytes
	Peak Bytes // per category, since the last ResetPeak
	// PeakTotal is the highest sum of live bytes seen, which is at most
	// Peak.Total() (the categories need not peak together).
	PeakTotal int64
	// Allocated counts every byte ever allocated (never decreases): the
	// difference of two snapshots is what ran in between allocated,
	// whatever the garbage collector freed meanwhile.
	Allocated Bytes
}

var (
	live, peak, allocated [NumCategories]atomic.Int64
	total                 atomic.Int64
	peakTotal             atomic.Int64
)

func raise(a *atomic.Int64, v int64) {
	for {
		p := a.Load()
		if v <= p || a.CompareAndSwap(p, v) {
			return
		}
	}
}

// Track adds n bytes (negative: frees) to category c's live count.
// Optimizer state and data batches allocated elsewhere are reported here.
func Track(c Category, n int64) {
	if n > 0 {
		allocated[c].Add(n)
	}
	v := live[c].Add(n)
	raise(&peak[c], v)
	raise(&peakTotal, total.Add(n))
}

// SetWeights sets the weight gauges to w's weight categories (usually
// computed from a model tree with nn.AccountWeights); w's other
// categories are ignored.
func SetWeights(w Bytes) {
	for _, c := range WeightCategories {
		Track(c, w[c]-live[c].Load())
	}
}

// Alloc returns a zeroed []float32 of length n counted in category c until
// the garbage collector frees it.
func Alloc(c Category, n int) []float32 {
	s := make([]float32, n)
	if n > 0 {
		b := 4 * int64(n)
		Track(c, b)
		runtime.AddCleanup(&s[0], func(b int64) { Track(c, -b) }, b)
	}
	return s
}

// Tensor returns a zero f32 tensor of the given shape counted in category c.
func Tensor(c Category, shape ...int) *tensor.Tensor {
	return tensor.FromF32(Alloc(c, tensor.NumElems(shape)), shape...)
}

// Take returns the current accounting.
func Take() Snapshot {
	var s Snapshot
	for i := range s.Live {
		s.Live[i] = live[i].Load()
		s.Peak[i] = peak[i].Load()
		s.Allocated[i] = allocated[i].Load()
	}
	s.PeakTotal = peakTotal.Load()
	return s
}

// Live returns the live bytes per category.
func Live() Bytes { return Take().Live }

// ResetPeak sets every peak to the current live bytes and resets the
// process's peak RSS (VmHWM) where the kernel allows it, so the next
// Snapshot and PeakRSS measure one phase.
func ResetPeak() {
	var t int64
	for i := range live {
		v := live[i].Load()
		peak[i].Store(v)
		t += v
	}
	peakTotal.Store(t)
	resetRSS()
}

// Measure runs fn after ResetPeak and returns the accounting and peak RSS
// (0 where unavailable) of that phase.
func Measure(fn func()) (Snapshot, int64) {
	ResetPeak()
	fn()
	s := Take()
	rss, _ := PeakRSS()
	return s, rss
}

// AllocInt32 is Alloc for int32 values (labels, token ids).
func AllocInt32(c Category, n int) []int32 {
	s := make([]int32, n)
	if n > 0 {
		b := 4 * int64(n)
		Track(c, b)
		runtime.AddCleanup(&s[0], func(b int64) { Track(c, -b) }, b)
	}
	return s
}

// AllocFloat64 is Alloc for float64 values (sums kept in double precision).
func AllocFloat64(c Category, n int) []float64 {
	s := make([]float64, n)
	if n > 0 {
		b := 8 * int64(n)
		Track(c, b)
		runtime.AddCleanup(&s[0], func(b int64) { Track(c, -b) }, b)
	}
	return s
}
