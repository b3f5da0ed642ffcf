package plan

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Speed is this machine's measured GEMM throughput, in GFLOP/s, for the
// three kinds of product a ViT step runs. They differ: the Linear layers'
// products are wide ([B·T, H]·[H, H] and the MLP's), attention's are many
// small per-head products (T×T×d with d = H/heads), LoRA's have one side of
// rank r. Step time is predicted as Σ FLOPs(kind) / speed(kind) plus the
// non-GEMM work (LayerNorm, GELU, softmax, adds, AdamW), which is timed on
// the same calibration as a rate per byte of activations and workspace.
type Speed struct {
	Threads                    int
	Linear, Attention, LowRank float64 // GFLOP/s
	// Non-GEMM work, in nanoseconds: one block's forward and backward
	// elementwise kernels (see calibrateNonGEMM), and AdamW per value.
	BlockForwardNS, BlockBackwardNS, AdamNSPerValue float64
}

// StepMS predicts the time of one training step in milliseconds.
func (s Speed) StepMS(e Estimate) float64 {
	lin := float64(e.FLOPs() - e.Attention - e.LowRank)
	ns := lin/s.Linear + float64(e.Attention)/s.Attention + float64(e.LowRank)/s.LowRank
	ns += s.BlockForwardNS*float64(e.BlockForwards) + s.BlockBackwardNS*float64(e.BlockBackwards)
	ns += s.AdamNSPerValue * float64(e.TrainableValues)
	return ns / 1e6
}

type speedKey struct {
	h, inter, t, heads, batch, r, threads int
	dtype                                 tensor.DType
	doubleQuant                           bool
}

var (
	speedMu    sync.Mutex
	speedCache = map[speedKey]Speed{}
)

// Calibrate measures Speed for a model of dimensions d at the given batch,
// LoRA rank r and storage of the frozen Linear weights (the Linear
// products read them so), with the kernels' current thread count. It
// takes a few times the GEMM work of one step's Linear products; results
// are cached for the process.
func Calibrate(dims models.Dims, batch, r int, base nn.Storage) Speed {
	k := speedKey{dims.Hidden, dims.Intermediate, dims.Tokens, dims.Heads, batch, r, kernels.Threads(), base.DType, base.DoubleQuant}
	speedMu.Lock()
	defer speedMu.Unlock()
	if s, ok := speedCache[k]; ok {
		return s
	}
	s := Speed{Threads: k.threads}
	H, I := k.h, k.inter
	// Measure on a shape whose buffers stay under calibrationBudget; the
	// rates carry over, the elementwise times scale with the elements.
	batch, T, scale := calibrationShape(batch, k.t, H, I, k.heads)
	n := batch * T
	rng := rand.New(rand.NewPCG(1, 2))
	buf := func(m int) []float32 {
		x := make([]float32, m)
		for i := range x {
			x[i] = rng.Float32() - 0.5
		}
		return x
	}
	x, y, big := buf(n*H), buf(n*H), buf(n*I)
	weight := func(rows, cols int) kernels.Operand {
		w := buf(rows * cols)
		if base.DType != tensor.F32 && base.DType != 0 {
			return kernels.TensorOperand(tensor.FromF32(w, rows, cols).Quantize(base.DType, base.DoubleQuant))
		}
		return kernels.F32Operand(w, cols)
	}
	wHH, wIH, wHI := weight(H, H), weight(I, H), weight(H, I)
	dW := buf(H * I)
	// Linear: forward x·Wᵀ for the attention and MLP shapes, dX = dy·W, dW = dyᵀ·x.
	s.Linear = rate(func() int64 {
		kernels.Gemm(false, true, n, H, H, 1, kernels.F32Operand(x, H), wHH, 0, y, H)
		kernels.Gemm(false, true, n, I, H, 1, kernels.F32Operand(x, H), wIH, 0, big, I)
		kernels.Gemm(false, true, n, H, I, 1, kernels.F32Operand(big, I), wHI, 0, y, H)
		kernels.Gemm(false, false, n, H, H, 1, kernels.F32Operand(y, H), wHH, 0, x, H)
		kernels.Sgemm(true, false, H, H, n, 1, y, H, x, H, 1, dW, H)
		return 2 * int64(n) * int64(H) * int64(4*H+2*I)
	})
	// Attention: per (batch, head) scores Q·Kᵀ and context P·V, split over
	// the pool as nn.SelfAttention does.
	d, nh := H/k.heads, k.heads
	probs := buf(batch * nh * T * T)
	s.Attention = rate(func() int64 {
		kernels.ParallelFor(batch*nh, func(lo, hi int) {
			for bh := lo; bh < hi; bh++ {
				off := (bh/nh)*T*H + (bh%nh)*d
				kernels.GemmSerial(false, true, T, T, d, 1, kernels.F32Operand(x[off:], H), kernels.F32Operand(y[off:], H), 0, probs[bh*T*T:], T)
				kernels.GemmSerial(false, false, T, d, T, 1, kernels.F32Operand(probs[bh*T*T:], T), kernels.F32Operand(y[off:], H), 0, x[off:], H)
			}
		})
		return int64(batch*nh) * 4 * int64(T) * int64(T) * int64(d)
	})
	// LoRA: h = x·Aᵀ, y += h·Bᵀ, dB = dyᵀ·h, dh = dy·B, dA = dhᵀ·x, dx += dh·A.
	if r > 0 {
		A, B, h, dA := buf(r*H), buf(H*r), buf(n*r), buf(r*H)
		s.LowRank = rate(func() int64 {
			kernels.Sgemm(false, true, n, r, H, 1, x, H, A, H, 0, h, r)
			kernels.Sgemm(false, true, n, H, r, 1, h, r, B, r, 1, y, H)
			kernels.Sgemm(true, false, H, r, n, 1, y, H, h, r, 1, dA, r)
			kernels.Sgemm(false, false, n, r, H, 1, y, H, B, r, 0, h, r)
			kernels.Sgemm(true, false, r, H, n, 1, h, r, x, H, 1, dA, H)
			kernels.Sgemm(false, false, n, H, r, 1, h, r, A, H, 1, y, H)
			return 6 * 2 * int64(n) * int64(H) * int64(r)
		})
	} else {
		s.LowRank = s.Linear
	}
	s.BlockForwardNS, s.BlockBackwardNS = calibrateNonGEMM(n, H, I, batch*nh*T, T)
	s.BlockForwardNS *= scale
	s.BlockBackwardNS *= scale
	s.AdamNSPerValue = adamNsPerValue()
	speedCache[k] = s
	return s
}

// calibrationCap bounds the bytes of the batch-sized buffers Calibrate
// allocates, so that planning a large batch (or a long sequence) does not
// need the memory of its step; calibrationBudget lowers it to a quarter of
// the memory available.
const calibrationCap = 512 << 20

func calibrationBudget() int64 {
	if avail, _, err := sizecheck.Available(); err == nil && avail/4 < calibrationCap {
		return max(avail/4, 1)
	}
	return calibrationCap
}

// calibrationShape returns the batch and tokens Calibrate measures on for
// a step of batch × tokens: halved (batch first, then tokens) until its
// buffers fit calibrationBudget, and the factor by which the elementwise work
// of the real shape exceeds the measured one. Below the cap the shape is
// the real one and the factor 1; above it, the GEMM rates of the smaller
// shape stand in for the real one's (an approximation: large products run
// at about the same rate).
func calibrationShape(batch, tokens, H, I, heads int) (b, t int, scale float64) {
	mul, add := sizecheck.Mul, sizecheck.Add
	limit := calibrationBudget()
	bytes := func(b, t int) int64 { // calibrateNonGEMM's and Calibrate's buffers
		n := mul(int64(b), int64(t))
		return mul(4, add(mul(5, n, int64(H)), mul(3, n, int64(I)), mul(3, int64(b), int64(heads), int64(t), int64(t)), mul(2, n)))
	}
	elems := func(b, t int) float64 { // elementwise work of one block
		n := float64(b) * float64(t)
		return n*float64(H+I) + float64(b)*float64(heads)*float64(t)*float64(t)
	}
	b, t = batch, tokens
	for b > 1 && bytes(b, t) > limit {
		b = (b + 1) / 2
	}
	for t > 1 && bytes(b, t) > limit {
		t = (t + 1) / 2
	}
	return b, t, elems(batch, tokens) / elems(b, t)
}

// calibrateNonGEMM times the elementwise kernels of one encoder block on
// its real shapes (n = B·T rows): the forward's two LayerNorms, six bias
// adds, the softmax over [B·heads·T, T], GELU over [n, I] and two residual
// adds; the backward's two LayerNorm and the softmax and GELU backwards and
// three adds. It returns nanoseconds per block forward and backward.
func calibrateNonGEMM(n, H, I, softRows, T int) (fwd, bwd float64) {
	rng := rand.New(rand.NewPCG(3, 4))
	buf := func(m int) []float32 {
		x := make([]float32, m)
		for i := range x {
			x[i] = rng.Float32() - 0.5
		}
		return x
	}
	x, y, dx := buf(n*H), buf(n*H), buf(n*H)
	u, v := buf(n*I), buf(n*I)
	p, dp := buf(softRows*T), buf(softRows*T)
	w, b, dw, db := buf(H), buf(H), buf(H), buf(H)
	bi := buf(I)
	mean, rstd := buf(n), buf(n)
	fwd = nsOf(func() {
		for i := 0; i < 2; i++ {
			kernels.LayerNormForward(y, mean, rstd, x, w, b, n, H, 1e-12)
			kernels.Add(dx, x, y)
		}
		for i := 0; i < 5; i++ {
			kernels.AddBias(y, b, n, H)
		}
		kernels.AddBias(u, bi, n, I)
		kernels.SoftmaxForward(p, p, softRows, T, 0.125, false)
		kernels.GELUForward(v, u)
	})
	bwd = nsOf(func() {
		for i := 0; i < 2; i++ {
			kernels.LayerNormBackward(dx, dw, db, y, x, w, mean, rstd, n, H)
		}
		for i := 0; i < 3; i++ {
			kernels.Add(dx, x, y)
		}
		kernels.SoftmaxBackward(dp, p, p, softRows, T, 0.125)
		kernels.GELUBackward(v, u, v)
	})
	return fwd, bwd
}

// adamNsPerValue times AdamW's update per parameter value.
func adamNsPerValue() float64 {
	const n = 1 << 20
	p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	hp := kernels.AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	return nsOf(func() { kernels.AdamWStep(p, g, m, v, hp, 1) }) / n
}

// nsOf returns the best time of fn in nanoseconds over a few runs.
func nsOf(fn func()) float64 {
	fn()
	best := -1.0
	start := time.Now()
	for i := 0; i < 3 || (time.Since(start) < 30*time.Millisecond && i < 50); i++ {
		t := time.Now()
		fn()
		if d := float64(time.Since(t).Nanoseconds()); best < 0 || d < best {
			best = d
		}
	}
	return best
}

// rate runs fn (which returns its FLOPs) once to warm up, then until it has
// run 3 times and 50 ms, and returns the best GFLOP/s.
func rate(fn func() int64) float64 {
	fn()
	best := 0.0
	start := time.Now()
	for i := 0; i < 3 || time.Since(start) < 50*time.Millisecond; i++ {
		t := time.Now()
		f := fn()
		if g := float64(f) / float64(time.Since(t).Nanoseconds()); g > best {
			best = g
		}
		if i > 50 {
			break
		}
	}
	return best
}

// String formats the speeds.
func (s Speed) String() string {
	return fmt.Sprintf("%d threads: linear %.1f, attention %.1f, low-rank %.1f GFLOP/s; block elementwise %.2f+%.2f ms; AdamW %.2f ns/value",
		s.Threads, s.Linear, s.Attention, s.LowRank, s.BlockForwardNS/1e6, s.BlockBackwardNS/1e6, s.AdamNSPerValue)
}
