package vit

import (
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
)

// backwardCounters runs one forward and backward of the reference batch
// and returns the GEMMs the backward ran.
func backwardCounters(t *testing.T, m *Model) kernels.Counters {
	t.Helper()
	ref := loadReference(t)
	var ce nn.CrossEntropyLoss
	if _, err := ce.Forward(m.Forward(ref.pixels), ref.labels); err != nil {
		t.Fatal(err)
	}
	before := kernels.ReadCounters()
	if dx := m.Backward(ce.Backward()); dx != nil {
		t.Error("Backward returned dpixel_values without InputGrad")
	}
	return kernels.ReadCounters().Sub(before)
}

func setTrainable(t *testing.T, m *Model, names ...string) {
	t.Helper()
	for _, n := range names {
		mod, err := nn.Find(m, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range nn.AllParams(mod) {
			if err := p.SetTrainable(true); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestClassifierOnly: with only the classifier trainable, backward is one
// GEMM (the classifier's dW) and no encoder layer runs.
func TestClassifierOnly(t *testing.T) {
	m := loadTiny(t, LoadOptions{})
	setTrainable(t, m, "classifier")
	c := backwardCounters(t, m)
	B, H, K := 3, m.Config.HiddenSize, m.Config.NumLabels
	if want := int64(2 * K * H * B); c.Calls != 1 || c.Flops != want {
		t.Errorf("backward ran %d GEMMs / %d flops, want 1 / %d (classifier dW only)", c.Calls, c.Flops, want)
	}
	if m.dseq != nil {
		t.Error("backward reached the encoder")
	}
}

// TestTopQueryValue: with query and value of the top block trainable (the
// LoRA-like case), backward runs no dW GEMM for a frozen Linear, nothing
// below the top block, and exactly these products: the classifier's and
// the top block's dX down to its attention, the per-head attention
// products for dV and dQ, and the dW of query and value.
func TestTopQueryValue(t *testing.T) {
	m := loadTiny(t, LoadOptions{})
	top := len(m.Layers) - 1
	setTrainable(t, m, m.Layers[top].Attention.Attention.Query.Name(), m.Layers[top].Attention.Attention.Value.Name())
	c := backwardCounters(t, m)
	cfg := m.Config
	B, T, H, I, K := int64(3), int64(cfg.Tokens()), int64(cfg.HiddenSize), int64(cfg.IntermediateSize), int64(cfg.NumLabels)
	nh, d := int64(cfg.NumAttentionHeads), int64(cfg.HeadDim())
	dense := func(in, out int64) int64 { return 2 * B * T * in * out }
	wantFlops := 2*B*K*H + // classifier dX
		dense(I, H) + dense(H, I) + // output.dense dX, intermediate.dense dX
		dense(H, H) + // attention.output.dense dX
		3*B*nh*2*T*T*d + // per head: dV = Pᵀ·dC, dP = dC·Vᵀ, dQ = dS·K
		2*dense(H, H) // query and value dW
	wantCalls := int64(1+3) + 3*B*nh + 2
	if c.Calls != wantCalls || c.Flops != wantFlops {
		t.Errorf("backward ran %d GEMMs / %d flops, want %d / %d", c.Calls, c.Flops, wantCalls, wantFlops)
	}
	for _, p := range nn.AllParams(m) {
		if (p.Grad != nil) != p.Trainable {
			t.Errorf("%s: trainable %v but gradient %v", p.Name, p.Trainable, p.Grad != nil)
		}
	}
	for i := 0; i < top; i++ {
		if m.Layers[i].dr != nil {
			t.Errorf("backward ran through block %d below the top", i)
		}
	}
}

// TestPatchEmbeddingFrozen: with everything trainable except the patch
// projection, no dX GEMM runs for it unless pixel gradients are asked for.
func TestPatchEmbeddingFrozen(t *testing.T) {
	m := loadTiny(t, LoadOptions{})
	setTrainable(t, m, "vit.encoder", "vit.layernorm", "classifier")
	m.Embeddings.CLSToken.SetTrainable(true)
	full := backwardCounters(t, m)
	m.InputGrad = true
	ref := loadReference(t)
	var ce nn.CrossEntropyLoss
	ce.Forward(m.Forward(ref.pixels), ref.labels)
	before := kernels.ReadCounters()
	if m.Backward(ce.Backward()) == nil {
		t.Fatal("no dpixel_values with InputGrad")
	}
	withInput := kernels.ReadCounters().Sub(before)
	cfg := m.Config
	proj := int64(2 * 3 * cfg.Patches() * cfg.HiddenSize * cfg.NumChannels * cfg.PatchSize * cfg.PatchSize)
	if withInput.Calls != full.Calls+1 || withInput.Flops != full.Flops+proj {
		t.Errorf("pixel gradients cost %d GEMMs / %d flops more, want 1 / %d (the projection's dX)",
			withInput.Calls-full.Calls, withInput.Flops-full.Flops, proj)
	}
}
