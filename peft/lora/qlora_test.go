package lora_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/golora/golora/models"
	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/plan"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// TestAdapterTrainedOnNF4LoadsOnF32Base is QLoRA's workflow: LoRA trained
// for a few steps over a double-quantised NF4 base, saved as a PEFT
// adapter, then loaded onto the f32 base. Its logits are those of the NF4
// model up to the quantisation error, and equal bit for bit to the same
// adapter loaded onto the dequantised base (the values the NF4 model's
// GEMMs computed with).
func TestAdapterTrainedOnNF4LoadsOnF32Base(t *testing.T) {
	dir := filepath.Join(testdata, "vit-tiny")
	load := func() *vit.Model {
		m, err := vit.Load(dir, vit.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	exp, err := safetensors.Load(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	pix := mustTensor(t, exp, "pixel_values")
	logits := func(m *vit.Model) []float32 {
		nn.SetTraining(m, false)
		return append([]float32(nil), m.Forward(pix).F32()...)
	}
	cfg := lora.DefaultConfig()
	cfg.R, cfg.LoraAlpha, cfg.LoraDropout = 4, 8, 0.1
	cfg.TargetModules, cfg.ModulesToSave = lora.TargetList("query", "value"), []string{"classifier"}
	nf4 := nn.Storage{DType: tensor.NF4, DoubleQuant: true}

	q := load()
	baseF32 := logits(q)
	nn.SetTraining(q, true)
	pm, err := plan.Apply(plan.Setup{Method: "lora", LoRA: cfg, BaseDType: nf4.DType, DoubleQuant: nf4.DoubleQuant}, q, 3)
	if err != nil {
		t.Fatal(err)
	}
	r, err := plan.NewRunner(pm, 4, 9)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := r.Step(); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	if err := pm.LoRA.Save(out); err != nil {
		t.Fatal(err)
	}
	trained := logits(q)
	if err := pm.LoRA.DisableAdapters(); err != nil {
		t.Fatal(err)
	}
	baseNF4 := logits(q)

	onF32 := load()
	if _, err := lora.Load(onF32, out); err != nil {
		t.Fatal(err)
	}
	onDeq := load()
	if _, err := models.StoreBase(onDeq, nf4); err != nil {
		t.Fatal(err)
	}
	if _, err := nn.ConvertFrozenLinears(onDeq, nn.Storage{DType: tensor.F32}); err != nil {
		t.Fatal(err)
	}
	if _, err := lora.Load(onDeq, out); err != nil {
		t.Fatal(err)
	}
	deq, f32 := logits(onDeq), logits(onF32)
	for i := range trained {
		if math.Float32bits(deq[i]) != math.Float32bits(trained[i]) {
			t.Fatalf("logit %d: %v with the adapter on the dequantised base, %v in the NF4 model", i, deq[i], trained[i])
		}
	}
	// On the f32 base the adapter sees the original weights: the logits
	// move by about as much as the base's own logits do under NF4.
	adapterErr, baseErr := relErr(f32, trained), relErr(baseNF4, baseF32)
	t.Logf("adapter on the f32 base vs the NF4 model: %.3g relative; the base alone, NF4 vs f32: %.3g", adapterErr, baseErr)
	if adapterErr == 0 || adapterErr > 3*baseErr || adapterErr > 0.2 {
		t.Errorf("adapter on the f32 base differs from the NF4 model by %.3g relative (the base alone by %.3g)", adapterErr, baseErr)
	}
	// The adapter's effect is about the same on either base.
	dq, df := make([]float32, len(trained)), make([]float32, len(trained))
	for i := range trained {
		dq[i], df[i] = trained[i]-baseNF4[i], f32[i]-baseF32[i]
	}
	moved, transfer := relErr(trained, baseNF4), relErr(df, dq)
	t.Logf("the adapter moves the NF4 model's logits by %.3g relative; its effect on the f32 base differs from that by %.3g", moved, transfer)
	if moved < 0.01 || transfer > 0.5 {
		t.Errorf("the adapter moves the NF4 logits by %.3g; on the f32 base its effect differs by %.3g of that", moved, transfer)
	}
}
