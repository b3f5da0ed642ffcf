package adalora

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

const testdata = "../../testdata"

// relErr is max|a−b| / max|b|.
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

func labelsOf(t *testing.T, f *safetensors.File, name string) []int32 {
	t.Helper()
	raw, info, err := f.Raw(name)
	if err != nil || info.DType != "I64" {
		t.Fatalf("%s: %v %v", name, err, info)
	}
	out := make([]int32, len(raw)/8)
	for i := range out {
		out[i] = int32(raw[8*i]) | int32(raw[8*i+1])<<8
	}
	return out
}

// step runs forward, mean cross-entropy and backward on the reference
// batch with labels, and returns logits and the loss.
func step(t *testing.T, m *vit.Model, exp *safetensors.File, labels []int32) ([]float32, float64) {
	t.Helper()
	logits := m.Forward(mustTensor(t, exp, "pixel_values"))
	rows, cols := logits.Dim(0), logits.Dim(1)
	out := append([]float32(nil), logits.F32()...)
	probs := make([]float32, rows*cols)
	loss, n := kernels.CrossEntropyForward(probs, logits.F32(), labels, rows, cols)
	dl := tensor.New(tensor.F32, rows, cols)
	kernels.CrossEntropyBackward(dl.F32(), probs, labels, rows, cols, float32(1/float64(n)))
	m.Backward(dl)
	return out, loss
}

func loadBase(t *testing.T) *vit.Model {
	t.Helper()
	m, err := vit.Load(filepath.Join(testdata, "vit-tiny"), vit.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stored is a parameter's key in the reference files ("x.lora_A").
func stored(p *nn.Param) string { return strings.TrimSuffix(p.Name, "."+adapterName) }

// TestAgainstPyTorch loads the generator's PEFT-layout AdaLoRA adapter and
// checks, against testdata/gen_adalora.py: logits, cross-entropy, the
// orthogonal regulariser and the gradients of every lora_A, lora_E, lora_B
// and the classifier copy including the regulariser's (1e-4 relative); the
// sensitivity EMAs after two updates, the triplet scores, the budget and
// the mask decision of one allocation; the masked logits; the pruned
// adapter save_pretrained writes (config byte for byte, tensors bit for
// bit); loading that pruned adapter back; and the merged model.
func TestAgainstPyTorch(t *testing.T) {
	dir := filepath.Join(testdata, "adalora")
	exp, err := safetensors.Load(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	base := loadBase(t)
	m, err := Load(base, filepath.Join(dir, "adapter"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetTrainable(true); err != nil {
		t.Fatal(err)
	}
	nn.SetTraining(base, true)
	nn.ZeroGrads(base)
	logits, ce := step(t, base, exp, labelsOf(t, exp, "labels"))
	if e := relErr(logits, mustTensor(t, exp, "logits").F32()); e > 1e-4 {
		t.Errorf("logits relative error %g", e)
	}
	if want := float64(mustTensor(t, exp, "loss_ce").F32()[0]); math.Abs(ce-want) > 1e-4*want {
		t.Errorf("cross-entropy %g, want %g", ce, want)
	}
	reg := m.Regularize()
	if want := float64(mustTensor(t, exp, "orth_reg").F32()[0]); math.Abs(reg-want) > 1e-5*want {
		t.Errorf("orthogonal regulariser %g, want %g", reg, want)
	}
	checked := 0
	for _, p := range nn.TrainableParams(base) {
		want := mustTensor(t, exp, "grad."+stored(p))
		if e := relErr(p.Grad.F32(), want.F32()); e > 1e-4 {
			t.Errorf("%s: gradient relative error %g", p.Name, e)
		}
		checked++
	}
	if checked != 4*3+2 {
		t.Errorf("checked %d gradients, want 14", checked)
	}

	// Allocation: two sensitivity updates (the second on other labels), one mask.
	a := m.Allocator()
	a.UpdateIPT()
	nn.ZeroGrads(base)
	step(t, base, exp, labelsOf(t, exp, "labels2"))
	m.Regularize()
	a.UpdateIPT()
	for _, l := range m.Layers() {
		for _, p := range l.Params() {
			s := a.state[p]
			for _, kind := range []struct {
				name string
				got  []float32
			}{{"exp_avg_ipt.", s.avg}, {"exp_avg_unc.", s.unc}} {
				if e := relErr(kind.got, mustTensor(t, exp, kind.name+stored(p)).F32()); e > 1e-4 {
					t.Errorf("%s%s: relative error %g", kind.name, stored(p), e)
				}
			}
		}
	}
	for i, sc := range a.Scores() {
		name := m.Layers()[i].Name()
		if e := relErr(sc, mustTensor(t, exp, "score."+name).F32()); e > 1e-4 {
			t.Errorf("score of %s: relative error %g", name, e)
		}
	}
	budget, mask := a.Budget(4)
	if budget != 10 || !mask {
		t.Fatalf("Budget(4) = %d, %v; want 10, true", budget, mask)
	}
	m.cfg.RankPattern = a.MaskToBudget(budget)
	for _, l := range m.Layers() {
		want := mustTensor(t, exp, "mask."+l.Name()).F32()
		got := m.cfg.RankPattern[l.Name()+".lora_E"]
		for i := range want {
			if got[i] != (want[i] == 1) {
				t.Errorf("%s: kept %v, PEFT keeps %v", l.Name(), got, want)
				break
			}
		}
	}
	nn.SetTraining(base, false)
	masked := base.Forward(mustTensor(t, exp, "pixel_values"))
	if e := relErr(masked.F32(), mustTensor(t, exp, "logits_masked").F32()); e > 1e-4 {
		t.Errorf("masked logits relative error %g", e)
	}

	// save_pretrained after the allocation: PEFT's pruned adapter.
	out := t.TempDir()
	if err := m.Save(out); err != nil {
		t.Fatal(err)
	}
	pruned := filepath.Join(dir, "adapter-pruned")
	wantCfg, _ := os.ReadFile(filepath.Join(pruned, peft.ConfigName))
	gotCfg, _ := os.ReadFile(filepath.Join(out, peft.ConfigName))
	if !bytes.Equal(gotCfg, wantCfg) {
		t.Errorf("adapter_config.json differs from PEFT's layout:\n%s\nwant\n%s", gotCfg, wantCfg)
	}
	wantW, err := safetensors.Load(filepath.Join(pruned, peft.WeightsName))
	if err != nil {
		t.Fatal(err)
	}
	gotW, err := safetensors.Load(filepath.Join(out, peft.WeightsName))
	if err != nil {
		t.Fatal(err)
	}
	if len(gotW.Names()) != len(wantW.Names()) {
		t.Errorf("saved %d tensors, PEFT saves %d", len(gotW.Names()), len(wantW.Names()))
	}
	for _, k := range wantW.Names() {
		w, g := mustTensor(t, wantW, k), mustTensor(t, gotW, k)
		if !tensor.SameShape(w.Shape(), g.Shape()) {
			t.Errorf("%s: shape %v, want %v", k, g.Shape(), w.Shape())
			continue
		}
		// The masked E values are cut away, so what stays is the loaded
		// values except the classifier copy, which the two steps left alone.
		if e := relErr(g.F32(), w.F32()); e != 0 {
			t.Errorf("%s: differs from PEFT's pruned tensor (relative %g)", k, e)
		}
	}

	// Loading the pruned adapter restores the cut ranks and the masked logits.
	base2 := loadBase(t)
	m2, err := Load(base2, pruned)
	if err != nil {
		t.Fatal(err)
	}
	var kept []int
	for _, l := range m2.Layers() {
		kept = append(kept, l.Rank())
	}
	if want := []int{1, 3, 2, 4}; !equalInts(kept, want) {
		t.Errorf("loaded ranks %v, want %v", kept, want)
	}
	nn.SetTraining(base2, false)
	got2 := base2.Forward(mustTensor(t, exp, "pixel_values"))
	if e := relErr(got2.F32(), mustTensor(t, exp, "logits_masked").F32()); e > 1e-4 {
		t.Errorf("pruned adapter's logits relative error %g", e)
	}
	if s := m2.Layers()[0].Scale(); math.Abs(float64(s)-8/4.00001) > 1e-6 {
		t.Errorf("pruned layer scale %g, want alpha/init_r = %g", s, 8/4.00001)
	}

	// merge_and_unload of the unpruned adapter.
	base3 := loadBase(t)
	m3, err := Load(base3, filepath.Join(dir, "adapter"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := m3.MergeAndUnload()
	if err != nil {
		t.Fatal(err)
	}
	merged := plain.(*vit.Model).Forward(mustTensor(t, exp, "pixel_values"))
	if e := relErr(merged.F32(), mustTensor(t, exp, "logits_merged").F32()); e > 1e-5 {
		t.Errorf("merged logits relative error %g", e)
	}
	if _, ok := base3.Layers[0].Attention.Attention.Query.(*nn.Linear); !ok {
		t.Errorf("merge_and_unload left %T in the query slot", base3.Layers[0].Attention.Attention.Query)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBudgetSchedule checks Budget against PEFT's budget_schedule for
// every step of the generator's schedule.
func TestBudgetSchedule(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testdata, "adalora", "schedule.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Config struct {
			TotalStep int `json:"total_step"`
			Tinit     int `json:"tinit"`
			Tfinal    int `json:"tfinal"`
			DeltaT    int `json:"deltaT"`
			TargetR   int `json:"target_r"`
		} `json:"config"`
		InitBgt   int     `json:"init_bgt"`
		TargetBgt int     `json:"target_bgt"`
		Steps     [][]any `json:"steps"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	m := &Model{cfg: Config{TotalStep: s.Config.TotalStep, Tinit: s.Config.Tinit, Tfinal: s.Config.Tfinal,
		DeltaT: s.Config.DeltaT, TargetR: s.Config.TargetR}}
	a := &RankAllocator{m: m, InitBudget: s.InitBgt, TargetBudget: s.TargetBgt}
	for _, st := range s.Steps {
		step, want, wantMask := int(st[0].(float64)), int(st[1].(float64)), st[2].(bool)
		if got, mask := a.Budget(step); got != want || mask != wantMask {
			t.Errorf("step %d: budget %d, mask %v; PEFT %d, %v", step, got, mask, want, wantMask)
		}
	}
}
