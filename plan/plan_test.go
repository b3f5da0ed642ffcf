package plan

import (
	"strings"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/models"
	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/adalora"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/tensor"
)

// small is a ViT small enough for tests, with dropout everywhere.
func small() vit.Config {
	c := vit.DefaultConfig()
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 12, 3, 2, 20
	c.ImageSize, c.PatchSize = 8, 4
	c.HiddenDropoutProb, c.AttentionProbsDropoutProb = 0.1, 0.1
	c.SetLabels(vit.DefaultLabels(3))
	return c
}

// source is the Source of a ViT config.
func source(c vit.Config) Source {
	return func(random bool, seed uint64) (models.Model, error) {
		if random {
			return vit.New(c, seed)
		}
		return vit.NewZero(c, seed)
	}
}

// vitLoRA is DefaultLoRA for a ViT: query and value, the classifier saved.
func vitLoRA(t testing.TB, c vit.Config) lora.Config {
	m, err := vit.NewZero(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	return DefaultLoRA(m)
}

// vitAdaLoRA is AdaLoRA over the LoRA settings l at init_r r (target_r
// r/2), on a schedule whose second step (step 1) already masks and whose
// third (step 2) fixes the allocation and drops the allocator's state.
func vitAdaLoRA(l lora.Config, r int) adalora.Config {
	a := adalora.DefaultConfig()
	pt := a.PeftType
	a.Config, a.PeftType = l, pt
	a.InitR, a.TargetR, a.TotalStep, a.Tinit, a.Tfinal = r, r/2, 3, 0, 1
	return a
}

// methods are the setups golora compares: full fine-tuning, LoRA over an
// f32, bf16, fp16, int8, NF4 or double-quantised NF4 base, LoRA with
// gradient checkpointing, and AdaLoRA (over an f32 or NF4 base).
func methods(t testing.TB, c vit.Config) map[string]Setup {
	l := vitLoRA(t, c)
	l.LoraDropout = 0.1
	src := source(c)
	a := vitAdaLoRA(l, l.R)
	return map[string]Setup{
		"adalora":     {Base: src, Method: "adalora", AdaLoRA: a, BaseDType: tensor.F32},
		"adalora-nf4": {Base: src, Method: "adalora", AdaLoRA: a, BaseDType: tensor.NF4},
		"full":        {Base: src, Method: "full", BaseDType: tensor.F32},
		"lora":        {Base: src, Method: "lora", LoRA: l, BaseDType: tensor.F32},
		"lora-bf16":   {Base: src, Method: "lora", LoRA: l, BaseDType: tensor.BF16},
		"lora-fp16":   {Base: src, Method: "lora", LoRA: l, BaseDType: tensor.F16},
		"lora-int8":   {Base: src, Method: "lora", LoRA: l, BaseDType: tensor.Int8},
		"lora-nf4":    {Base: src, Method: "lora", LoRA: l, BaseDType: tensor.NF4},
		"lora-nf4-dq": {Base: src, Method: "lora", LoRA: l, BaseDType: tensor.NF4, DoubleQuant: true},
		"lora-ckpt":   {Base: src, Method: "lora", LoRA: l, BaseDType: tensor.F32, GradientCheckpointing: true},
	}
}

// partial is LoRA on some blocks only (PEFT's layers_to_transform), whose
// blocks differ in structure yet share their buffers.
func partial(t testing.TB, c vit.Config, ckpt bool) Setup {
	l := vitLoRA(t, c)
	l.LayersToTransform = []int{0, 2}
	l.TargetModules = lora.TargetList("query", "dense")
	return Setup{Base: source(c), Method: "lora", LoRA: l, BaseDType: tensor.F32, GradientCheckpointing: ckpt}
}

// TestEstimateMatchesMeasurement builds each method, runs real steps and
// checks every category and the GEMM FLOPs of a step against Estimate.
func TestEstimateMatchesMeasurement(t *testing.T) {
	const batch = 3
	ms := methods(t, small())
	ms["lora-partial"], ms["lora-partial-ckpt"] = partial(t, small(), false), partial(t, small(), true)
	for name, s := range ms {
		t.Run(name, func(t *testing.T) { checkEstimate(t, s, batch) })
	}
}

// checkEstimate builds s, runs real steps and checks every category, the
// GEMM FLOPs of a step and the GEMM calls among the planned ops against
// Estimate.
func checkEstimate(t *testing.T, s Setup, batch int) {
	t.Helper()
	a0 := memory.Take().Allocated
	m, err := Build(s, true, 7)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRunner(m, batch, 1)
	if err != nil {
		t.Fatal(err)
	}
	c0 := kernels.ReadCounters()
	if _, err := r.Step(); err != nil {
		t.Fatal(err)
	}
	ran := kernels.ReadCounters().Sub(c0)
	flops := ran.Flops
	got := memory.Take().Allocated.Sub(a0)
	w := nn.AccountWeights(m.Root())
	for _, c := range memory.WeightCategories {
		got[c] = w[c]
	}
	want := m.Estimate(batch)
	if dt, ok := memory.WeightsOf(s.BaseDType).DType(); !ok || dt != tensor.F32 && want.Bytes[memory.WeightsOf(dt)] == 0 {
		t.Errorf("no %v weights planned", s.BaseDType)
	}
	for c := memory.Category(0); c < memory.NumCategories; c++ {
		if got[c] != want.Bytes[c] {
			t.Errorf("%v: measured %d bytes, planned %d", c, got[c], want.Bytes[c])
		}
	}
	if flops != want.FLOPs() {
		t.Errorf("measured %d GEMM FLOPs, planned %d (forward %d, dX %d, dW %d)", flops, want.FLOPs(), want.Forward, want.BackwardDX, want.BackwardDW)
	}
	// Every GEMM that ran is among the ops the step time is made of.
	var calls, opFlops int64
	for op, n := range want.Ops {
		calls += n * op.Calls() * b2i(op.FLOPs() > 0)
		opFlops += n * op.FLOPs()
	}
	if calls != ran.Calls || opFlops != flops {
		t.Errorf("ran %d GEMMs of %d FLOPs, the planned ops hold %d of %d", ran.Calls, flops, calls, opFlops)
	}
	a1 := memory.Take().Allocated
	if _, err := r.Step(); err != nil {
		t.Fatal(err)
	}
	if d := memory.Take().Allocated.Sub(a1); d.Total() != 0 {
		t.Errorf("second step allocated %v", d.Map())
	}
	if m.AdaLoRA == nil {
		return
	}
	// Steps 1 and 2 allocate ranks (step 2 for good, dropping the
	// allocator's state): masking resizes nothing, so the plan and the
	// weights stay what they were, and nothing is allocated.
	a2 := memory.Take().Allocated
	if _, err := r.Step(); err != nil {
		t.Fatal(err)
	}
	if d := memory.Take().Allocated.Sub(a2); d.Total() != 0 {
		t.Errorf("the final rank allocation allocated %v", d.Map())
	}
	kept, init := 0, 0
	for _, k := range m.AdaLoRA.KeptRanks() {
		kept, init = kept+k, init+s.AdaLoRA.InitR
	}
	if kept >= init || m.AdaLoRA.Config().RankPattern == nil {
		t.Errorf("no singular value masked: %d of %d kept", kept, init)
	}
	if after := m.Estimate(batch); after.Bytes != want.Bytes || nn.AccountWeights(m.Root()) != w {
		t.Errorf("after the rank allocation: planned %v, was %v", after.Bytes.Map(), want.Bytes.Map())
	}
}

// TestMethodsRelations checks what the methods are for, on the planned
// numbers of vit-small-64: LoRA drops the base's gradients and Adam states,
// bf16 halves the frozen weights, checkpointing cuts activations and adds
// forward FLOPs, and LoRA skips the frozen dW.
func TestMethodsRelations(t *testing.T) {
	c := vit.Preset(64, 8, 6) // vit-small-64
	e := map[string]Estimate{}
	var err error
	for name, s := range methods(t, c) {
		s.LoRA.LoraDropout, s.AdaLoRA.LoraDropout = 0, 0 // the benchmark setting
		if e[name], err = Predict(s, 4); err != nil {
			t.Fatal(err)
		}
	}
	full, lo, bf, ck := e["full"], e["lora"], e["lora-bf16"], e["lora-ckpt"]
	// LoRA saves 12 bytes (gradient, two Adam moments) per frozen value and
	// pays 16 per adapter value (value, gradient, moments) and its h [B·T, r]
	// per adapted layer; nothing else may grow.
	frozen := vit.ExpectedCount(c).Total - int64(c.HiddenSize*c.NumLabels+c.NumLabels)
	r, layers, n := int64(16), int64(2*c.NumHiddenLayers), int64(4*c.Tokens())
	adapter := layers * r * 2 * int64(c.HiddenSize)
	if d, want := full.TotalBytes()-lo.TotalBytes(), 12*frozen-16*adapter-4*n*r*layers; d < want {
		t.Errorf("LoRA saves %d bytes, want at least %d", d, want)
	}
	// AdaLoRA at init_r = r adds E (r values a layer) to LoRA's factors,
	// and its rank allocator keeps three f32 per factor value.
	ad, e16 := e["adalora"], layers*r
	if d := ad.Bytes[memory.Gradients] - lo.Bytes[memory.Gradients]; d != 4*e16 {
		t.Errorf("AdaLoRA adds %d gradient bytes to LoRA's, want %d", d, 4*e16)
	}
	if d, want := ad.Bytes[memory.Optimizer]-lo.Bytes[memory.Optimizer], AdamStateBytes*e16+12*(adapter+e16); d != want {
		t.Errorf("AdaLoRA adds %d optimizer bytes to LoRA's, want %d", d, want)
	}
	if r := float64(bf.Bytes.Weights()) / float64(lo.Bytes.Weights()); r > 0.55 || r < 0.45 {
		t.Errorf("bf16 weights are %.3fx of f32", r)
	}
	if r := float64(ck.Bytes[memory.Activations]) / float64(lo.Bytes[memory.Activations]); r > 0.35 {
		t.Errorf("checkpointed activations are %.2fx", r)
	}
	if ck.Forward <= lo.Forward || ck.BackwardDX != lo.BackwardDX || ck.BackwardDW != lo.BackwardDW {
		t.Errorf("checkpointing: forward %d vs %d, backward %d/%d vs %d/%d", ck.Forward, lo.Forward, ck.BackwardDX, ck.BackwardDW, lo.BackwardDX, lo.BackwardDW)
	}
	if r := float64(lo.FLOPs()) / float64(full.FLOPs()); r < 0.6 || r > 0.8 {
		t.Errorf("LoRA/full FLOPs %.3f, want about 0.72", r)
	}
}

func TestMaxBatch(t *testing.T) {
	c := vit.Preset(64, 8, 6) // vit-small-64
	m, err := Build(methods(t, c)["lora"], false, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, budget := range []int64{1 << 20, 64 << 20, 1 << 30} {
		b := m.MaxBatch(budget)
		if b > 0 && m.Estimate(b).TotalBytes() > budget {
			t.Errorf("budget %d: batch %d does not fit", budget, b)
		}
		if m.Estimate(b+1).TotalBytes() <= budget {
			t.Errorf("budget %d: batch %d fits too", budget, b+1)
		}
	}
	if b := m.MaxBatch(1); b != 0 {
		t.Errorf("a 1-byte budget fits batch %d", b)
	}
}

// TestCheckpointLoRAGradients checks that gradient checkpointing leaves
// LoRA's (and full fine-tuning's) gradients bitwise unchanged, with LoRA,
// hidden and attention dropout on: the recomputed forward and the restored
// transient outputs (nn.Restore) of a plain run agree bit for bit.
func TestCheckpointLoRAGradients(t *testing.T) {
	ms := methods(t, small())
	fullCkpt := ms["full"]
	fullCkpt.GradientCheckpointing = true
	for _, pair := range [][2]Setup{{ms["lora"], ms["lora-ckpt"]}, {partial(t, small(), false), partial(t, small(), true)}, {ms["full"], fullCkpt}} {
		compareGrads(t, "vit", stepGrads(t, pair[0]), stepGrads(t, pair[1]))
	}
}

// stepGrads builds s and returns its trainable gradients after two steps
// (the second from updated weights).
func stepGrads(t *testing.T, s Setup) map[string][]float32 {
	t.Helper()
	m, err := Build(s, true, 3)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRunner(m, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := r.Step(); err != nil {
			t.Fatal(err)
		}
	}
	g := map[string][]float32{}
	for _, p := range nn.TrainableParams(m.Root()) {
		g[p.Name] = append([]float32(nil), p.Grad.F32()...)
	}
	return g
}

// compareGrads fails unless plain and ckpt hold the same non-zero
// gradients, bit for bit.
func compareGrads(t *testing.T, what string, plain, ckpt map[string][]float32) {
	t.Helper()
	if len(plain) == 0 || len(plain) != len(ckpt) {
		t.Fatalf("%s: %d vs %d trainable parameters", what, len(plain), len(ckpt))
	}
	for name, g := range plain {
		nonzero := false
		for i := range g {
			nonzero = nonzero || g[i] != 0
			if g[i] != ckpt[name][i] {
				t.Fatalf("%s: %s[%d]: %v with checkpointing, %v without", what, name, i, ckpt[name][i], g[i])
			}
		}
		if !nonzero {
			t.Errorf("%s: %s: zero gradient", what, name)
		}
	}
}

func TestWriteBreakdown(t *testing.T) {
	var e Estimate
	e.Bytes[memory.Activations] = 1 << 20
	e.Bytes[memory.WeightsF32], e.Bytes[memory.WeightsNF4] = 3<<20, 1<<20
	var m memory.Bytes
	m[memory.Activations] = 1<<20 + 1<<18
	m[memory.WeightsF32], m[memory.WeightsNF4] = 3<<20, 1<<20
	var b strings.Builder
	if err := WriteBreakdown(&b, m, 5<<20, e); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"activations", "1.2 MiB", "1.0 MiB", "+25.0%", "peak RSS", "5.0 MiB", "weights           4.0 MiB", "  f32             3.0 MiB", "  nf4             1.0 MiB"} {
		if !strings.Contains(b.String(), want) || strings.Contains(b.String(), "bf16") {
			t.Errorf("breakdown lacks %q:\n%s", want, b.String())
		}
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
