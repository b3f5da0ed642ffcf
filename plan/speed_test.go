package plan

import (
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/golora/golora/models"
	"github.com/golora/golora/models/llama"
	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// TestStepTimeModel checks the step-time model's structure on a real
// setup: every op of the step is timed (positive), the prediction is the
// sum of count × time (doubling every count doubles it, adding an op adds
// its time), and a Speed asked about an op it did not time panics rather
// than count it as free. Agreement with measured steps is a benchmark
// (golora bench train prints it), logged here, not asserted: on shared
// cores a wall-clock assertion would flake.
func TestStepTimeModel(t *testing.T) {
	if testing.Short() {
		t.Skip("calibrates kernels")
	}
	c := vit.Preset(64, 8, 6) // vit-small-64
	s := methods(t, c)["lora"]
	s.LoRA.LoraDropout = 0
	const batch = 4
	m, err := Build(s, true, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRunner(m, batch, 1)
	if err != nil {
		t.Fatal(err)
	}
	var ms []float64
	for i := 0; i < 4; i++ {
		start := time.Now()
		if _, err := r.Step(); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, float64(time.Since(start).Nanoseconds())/1e6)
	}
	slices.Sort(ms)
	e := m.Estimate(batch)
	sp := Calibrate(e)
	kinds := map[nn.Kernel]bool{}
	for op := range e.Ops {
		kinds[op.Kernel] = true
		if ns := sp.ns[op]; !(ns > 0) {
			t.Errorf("%v: timed %v ns", op, ns)
		}
	}
	for _, k := range []nn.Kernel{nn.OpGemm, nn.OpGemmBatch, nn.OpLayerNorm, nn.OpLayerNormBackward, nn.OpSoftmax, nn.OpSoftmaxBackward, nn.OpGELU, nn.OpGELUBackward, nn.OpAdd, nn.OpAddBias, nn.OpCrossEntropy, nn.OpAdamW, nn.OpClear, nn.OpCopy} {
		if !kinds[k] {
			t.Errorf("a LoRA step declares no %v", k)
		}
	}
	pred, meas := sp.StepMS(e), ms[1] // the best but one of four
	if !(pred > 0) {
		t.Fatalf("predicted step time %v", pred)
	}
	t.Logf("predicted %.1f ms per step, measured %.1f ms", pred, meas)
	for k, v := range sp.ByKernel(e) {
		t.Logf("  %-22v %7.2f ms", k, v)
	}
	e2 := e
	e2.Ops = nn.ScaleOps(e.Ops, 2)
	if d := sp.StepMS(e2) - 2*pred; d > 1e-9*pred || d < -1e-9*pred {
		t.Errorf("doubling every op gives %v ms, want %v", sp.StepMS(e2), 2*pred)
	}
	var op nn.Op
	for op = range e.Ops {
		break
	}
	e3 := e
	e3.Ops = nn.AddOps(e.Ops, map[nn.Op]int64{op: 1})
	if d := sp.StepMS(e3) - pred - sp.ns[op]/1e6; d > 1e-9*pred || d < -1e-9*pred {
		t.Errorf("one more %v adds %v ms, want %v", op, sp.StepMS(e3)-pred, sp.ns[op]/1e6)
	}
	defer func() {
		if recover() == nil {
			t.Error("an op that was not calibrated did not panic")
		}
	}()
	e3.Ops = map[nn.Op]int64{nn.Elementwise(nn.OpCopy, 123457): 1}
	sp.StepMS(e3)
}

// TestEveryKernelTimed: the calibration runs every kind of op (a small
// one of each) and finds a positive time.
func TestEveryKernelTimed(t *testing.T) {
	ops := map[nn.Kernel]nn.Op{
		nn.OpGemm:      {Kernel: nn.OpGemm, M: 17, N: 9, K: 5, TransB: true, BType: tensor.BF16},
		nn.OpGemmBatch: {Kernel: nn.OpGemmBatch, M: 7, N: 4, K: 7, LdA: 7, LdB: 12, LdC: 12, Batch: 6, BType: tensor.F32},
		nn.OpSoftmax:   {Kernel: nn.OpSoftmax, M: 6, N: 7, Causal: true},
	}
	for k := nn.Kernel(0); k < nn.NumKernels; k++ {
		op, ok := ops[k]
		if !ok {
			op = nn.Op{Kernel: k, M: 5, N: 11}
		}
		if ns := timeOp(op, &arena{}).ns; !(ns > 0) {
			t.Errorf("%v: %v ns", op, ns)
		}
	}
	// Frozen weights in every storage dtype.
	for _, dt := range []tensor.DType{tensor.BF16, tensor.F16, tensor.Int8, tensor.NF4} {
		for _, dq := range []bool{false, dt == tensor.NF4} {
			op := nn.Op{Kernel: nn.OpGemm, M: 9, N: 64, K: 128, TransB: true, BType: dt, DoubleQuant: dq}
			if ns := timeOp(op, &arena{}).ns; !(ns > 0) {
				t.Errorf("%v: %v ns", op, ns)
			}
		}
	}
}

// TestCalibrationReduce: ops whose buffers exceed the budget are measured
// smaller, under the budget, and their time scaled by the work ratio;
// others are measured as they are. Every kind is reduced, down to one
// product of a long context's T×T scores and one row of a huge vocabulary.
func TestCalibrationReduce(t *testing.T) {
	const limit = 128 << 20
	for _, op := range []nn.Op{
		nn.GemmOp(false, true, 1<<20, 4096, 4096),
		{Kernel: nn.OpGemmBatch, M: 2048, N: 2048, K: 128, LdA: 4096, LdB: 4096, LdC: 2048, Batch: 1024, BType: tensor.F32},
		nn.Rows(nn.OpSoftmax, 1<<22, 2048),
		nn.Elementwise(nn.OpAdamW, 1<<30),
		nn.GemmOp(false, true, 1576, 192, 768),
		// One head of a 131072-token context: Q·Kᵀ, Pᵀ·dctx (whose A
		// runs along K with the scores' stride), P·V.
		{Kernel: nn.OpGemmBatch, M: 1 << 17, N: 1 << 17, K: 32, LdA: 256, LdB: 128, LdC: 1 << 17, Batch: 1, BType: tensor.F32},
		{Kernel: nn.OpGemmBatch, M: 1 << 17, N: 32, K: 1 << 17, TransA: true, LdA: 1 << 17, LdB: 256, LdC: 128, Batch: 1, BType: tensor.F32},
		{Kernel: nn.OpGemmBatch, M: 1 << 17, N: 32, K: 1 << 17, LdA: 1 << 17, LdB: 128, LdC: 256, Batch: 8, BType: tensor.F32},
		nn.GemmOp(false, true, 1, 1<<20, 8192), // a huge weight, one row
		nn.Rows(nn.OpCrossEntropyBackward, 2, 1<<26),
		nn.Rows(nn.OpSoftmax, 1<<17, 1<<17),
	} {
		small, scale := reduce(op, limit)
		if b := opBytes(small); b > limit {
			t.Errorf("%v: measured as %v, %d bytes over %d", op, small, b, limit)
		}
		if got := workOf(small) * scale; got != workOf(op) || scale < 1 {
			t.Errorf("%v: %v scaled by %v", op, small, scale)
		}
		if small.Batch > op.Batch || small.M > op.M || small.N > op.N || small.K > op.K || small.Kernel != op.Kernel || small.LdA != op.LdA {
			t.Errorf("%v measured as %v: not a reduction", op, small)
		}
		if opBytes(op) <= limit && (small != op || scale != 1) {
			t.Errorf("%v fits, measured as %v ×%v", op, small, scale)
		}
	}
}

// TestCalibrateLongContext: planning a step on one sequence of a long
// context (a single head's T×T scores take 4 GiB) allocates a bounded
// amount, what the calibration budget allows, and predicts a finite,
// positive step time.
func TestCalibrateLongContext(t *testing.T) {
	if testing.Short() {
		t.Skip("calibrates a long-context model (seconds)")
	}
	const T = 1 << 15
	c := llama.Preset(16, 1, 2, 1, 50, T)
	c.IntermediateSize = 32
	src := func(random bool, seed uint64) (models.Model, error) { return llama.NewZero(c, seed) }
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	m, err := Build(Setup{Base: src, Method: "full", BaseDType: tensor.F32}, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	e := m.Estimate(1)
	ms := Calibrate(e).StepMS(e)
	runtime.ReadMemStats(&ms1)
	if a, bound := ms1.TotalAlloc-ms0.TotalAlloc, uint64(3*calibrationCap); a > bound {
		t.Errorf("planning T=%d allocated %d bytes, over %d", T, a, bound)
	}
	if math.IsInf(ms, 0) || math.IsNaN(ms) || ms <= 0 {
		t.Errorf("step time %v ms", ms)
	}
}
