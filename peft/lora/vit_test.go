package lora_test

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

const testdata = "../../testdata"

// relErr is max|a−b| / max|b|: error relative to the tensor's scale, so
// entries that cancel to near zero do not dominate.
func relErr(a, b []float32) float64 {
	var d, m float64
	for i := range b {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = math.Max(m, math.Abs(float64(b[i])))
	}
	return d / math.Max(m, 1e-30)
}

func mustTensor(t *testing.T, f *safetensors.File, name string) *tensor.Tensor {
	t.Helper()
	x, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// forwardLoss runs the model on the reference batch and returns logits and
// the mean cross-entropy, leaving dlogits ready for Backward.
func forwardLoss(t *testing.T, m *vit.Model, exp *safetensors.File) (*tensor.Tensor, float64, *tensor.Tensor) {
	t.Helper()
	pix := mustTensor(t, exp, "pixel_values")
	raw, info, err := exp.Raw("labels")
	if err != nil || info.DType != "I64" {
		t.Fatalf("labels: %v %v", err, info)
	}
	labels := make([]int32, len(raw)/8)
	for i := range labels {
		labels[i] = int32(int64(uint64(raw[8*i]) | uint64(raw[8*i+1])<<8 | uint64(raw[8*i+2])<<16 | uint64(raw[8*i+3])<<24))
	}
	logits := m.Forward(pix)
	rows, cols := logits.Dim(0), logits.Dim(1)
	probs := make([]float32, rows*cols)
	loss, n := kernels.CrossEntropyForward(probs, logits.F32(), labels, rows, cols)
	dl := tensor.New(tensor.F32, rows, cols)
	kernels.CrossEntropyBackward(dl.F32(), probs, labels, rows, cols, float32(1/float64(n)))
	return logits, loss, dl
}

func loadBase(t *testing.T) *vit.Model {
	t.Helper()
	m, err := vit.Load(filepath.Join(testdata, "vit-tiny"), vit.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAgainstPyTorch loads the generator's PEFT-layout adapters and checks
// logits (1e-4), loss and the gradients of every lora_A, lora_B and the
// classifier copy (1e-3) against PyTorch, then the merged model.
func TestAgainstPyTorch(t *testing.T) {
	for _, dir := range []string{"lora", "lora-rslora", "lora-rank-pattern"} {
		t.Run(dir, func(t *testing.T) {
			exp, err := safetensors.Load(filepath.Join(testdata, dir, "expected.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			base := loadBase(t)
			m, err := lora.Load(base, filepath.Join(testdata, dir, "adapter"))
			if err != nil {
				t.Fatal(err)
			}
			logits, loss, dl := forwardLoss(t, base, exp)
			if e := relErr(logits.F32(), mustTensor(t, exp, "logits").F32()); e > 1e-4 {
				t.Errorf("logits relative error %g", e)
			}
			if want := float64(mustTensor(t, exp, "loss").F32()[0]); math.Abs(loss-want) > 1e-4*math.Abs(want) {
				t.Errorf("loss %g, want %g", loss, want)
			}
			nn.ZeroGrads(base)
			base.Backward(dl)
			checked := 0
			for _, p := range nn.TrainableParams(base) {
				key := "grad." + stripAdapter(p.Name)
				want, err := exp.Tensor(key)
				if err != nil {
					t.Fatalf("trainable %s has no reference %s", p.Name, key)
				}
				if e := relErr(p.Grad.F32(), want.F32()); e > 1e-3 {
					t.Errorf("%s: gradient relative error %g", key, e)
				}
				checked++
			}
			if want := len(exp.Names()) - 5; checked != want { // minus pixel_values, labels, logits, loss, logits_merged
				t.Errorf("checked %d gradients, the reference has %d", checked, want)
			}

			// Merging gives the merged model's logits; unmerging restores W.
			q := base.Layers[0].Attention.Attention.Query.(*lora.Linear).Base
			orig := q.Weight.Value.Clone()
			if err := m.Merge(); err != nil {
				t.Fatal(err)
			}
			merged := base.Forward(mustTensor(t, exp, "pixel_values"))
			if e := relErr(merged.F32(), mustTensor(t, exp, "logits_merged").F32()); e > 1e-5 {
				t.Errorf("merged logits relative error %g", e)
			}
			m.Unmerge()
			if e := relErr(q.Weight.Value.F32(), orig.F32()); e > 1e-6 {
				t.Errorf("unmerge: weight relative error %g", e)
			}
		})
	}
}

// stripAdapter turns "x.lora_A.default.weight" into "x.lora_A.weight".
func stripAdapter(name string) string {
	return string(bytes.Replace([]byte(name), []byte(".default."), []byte("."), 1))
}

// TestFilesBothWays: an adapter golora writes is byte-for-byte the file
// set the PEFT-layout generator wrote (same keys, shapes, dtype, values,
// config fields and formatting).
func TestFilesBothWays(t *testing.T) {
	for _, dir := range []string{"lora", "lora-rank-pattern", "dora", "dora-dropout", "pissa", "olora", "lora-gaussian"} {
		t.Run(dir, func(t *testing.T) {
			src := filepath.Join(testdata, dir, "adapter")
			m, err := lora.Load(loadBase(t), src)
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			if err := m.Save(out); err != nil {
				t.Fatal(err)
			}
			want, _ := os.ReadFile(filepath.Join(src, peft.ConfigName))
			got, err := os.ReadFile(filepath.Join(out, peft.ConfigName))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the PEFT-layout original:\n%s", peft.ConfigName, firstDiff(got, want))
			}
			// Weights: same keys, dtypes, shapes, bits and metadata. (Header
			// field order follows the safetensors library, dtype/shape/
			// data_offsets, which the generator's sorted JSON does not.)
			wf, _ := safetensors.Load(filepath.Join(src, peft.WeightsName))
			gf, err := safetensors.Load(filepath.Join(out, peft.WeightsName))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := fmt.Sprint(gf.Names()), fmt.Sprint(wf.Names()); g != w {
				t.Fatalf("keys %s, want %s", g, w)
			}
			if fmt.Sprint(gf.Metadata) != fmt.Sprint(wf.Metadata) {
				t.Errorf("metadata %v, want %v", gf.Metadata, wf.Metadata)
			}
			for _, k := range wf.Names() {
				gb, gi, _ := gf.Raw(k)
				wb, wi, _ := wf.Raw(k)
				if gi.DType != wi.DType || fmt.Sprint(gi.Shape) != fmt.Sprint(wi.Shape) || !bytes.Equal(gb, wb) {
					t.Errorf("%s: %s%v differs from %s%v", k, gi.DType, gi.Shape, wi.DType, wi.Shape)
				}
			}
		})
	}
}

func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-80)
	return "golora: …" + string(a[lo:min(len(a), i+80)]) + "\nPEFT:   …" + string(b[lo:min(len(b), i+80)])
}

// TestMergeAndUnloadSaves: the merged plain model saves as an ordinary HF
// directory that loads as a ViT and gives the merged logits.
func TestMergeAndUnloadSaves(t *testing.T) {
	exp, _ := safetensors.Load(filepath.Join(testdata, "lora", "expected.safetensors"))
	m, err := lora.Load(loadBase(t), filepath.Join(testdata, "lora", "adapter"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := m.MergeAndUnload()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := plain.(*vit.Model).Save(out); err != nil {
		t.Fatal(err)
	}
	re, err := vit.Load(out, vit.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := re.Forward(mustTensor(t, exp, "pixel_values"))
	if e := relErr(got.F32(), mustTensor(t, exp, "logits_merged").F32()); e > 1e-5 {
		t.Errorf("reloaded merged model: logits relative error %g", e)
	}
}

// TestViTBaseCount: PEFT's ViT example (ViT-Base, 101 labels, r=16,
// alpha=16, query/value, classifier saved) has 667,493 trainable params.
func TestViTBaseCount(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ViT-Base (86M parameters)")
	}
	cfg := vit.DefaultConfig()
	cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 768, 12, 12, 3072
	cfg.ImageSize, cfg.PatchSize, cfg.NumChannels = 224, 16, 3
	cfg.SetLabels(vit.DefaultLabels(101))
	base, err := vit.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	lc := lora.DefaultConfig()
	lc.R, lc.LoraAlpha, lc.LoraDropout = 16, 16, 0.1
	lc.TargetModules = lora.TargetList("query", "value")
	lc.ModulesToSave = []string{"classifier"}
	m, err := lora.Inject(base, lc, 1)
	if err != nil {
		t.Fatal(err)
	}
	const want = "trainable params: 667,493 || all params: 86,543,818 || trainable%: 0.7713"
	if got := m.TrainableSummary(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	var names []string
	for _, p := range nn.TrainableParams(base) {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	if len(names) != 50 {
		t.Errorf("%d trainable tensors, want PEFT's 50", len(names))
	}
}
