package lora_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// refKey is a parameter's key in the generator's files: the stored key
// without "base_model.model." ("x.lora_A.weight", "x.lora_magnitude_vector").
func refKey(name string) string {
	name = strings.Replace(name, ".default.", ".", 1)
	return strings.TrimSuffix(strings.Replace(name, "lora_magnitude_vector.weight", "lora_magnitude_vector", 1), ".default")
}

// checkStep runs the reference batch through base (forward, loss,
// backward) and compares logits (1e-4), loss and every trainable
// parameter's gradient (1e-3 relative) with exp.
func checkStep(t *testing.T, base *vit.Model, exp *safetensors.File) {
	t.Helper()
	logits, loss, dl := forwardLoss(t, base, exp)
	if e := relErr(logits.F32(), mustTensor(t, exp, "logits").F32()); e > 1e-4 {
		t.Errorf("logits relative error %g", e)
	}
	if want := float64(mustTensor(t, exp, "loss").F32()[0]); math.Abs(loss-want) > 1e-4*math.Abs(want) {
		t.Errorf("loss %g, want %g", loss, want)
	}
	nn.ZeroGrads(base)
	base.Backward(dl)
	checked, want := 0, 0
	for _, k := range exp.Names() {
		if strings.HasPrefix(k, "grad.") {
			want++
		}
	}
	for _, p := range nn.TrainableParams(base) {
		key := "grad." + refKey(p.Name)
		ref, err := exp.Tensor(key)
		if err != nil {
			t.Fatalf("trainable %s has no reference %s", p.Name, key)
		}
		if e := relErr(p.Grad.F32(), ref.F32()); e > 1e-3 {
			t.Errorf("%s: gradient relative error %g", key, e)
		}
		checked++
	}
	if checked != want {
		t.Errorf("checked %d gradients, the reference has %d", checked, want)
	}
}

// TestDoRAAgainstPyTorch loads the generator's PEFT-layout DoRA adapters
// (testdata/gen_family.py) and checks logits, loss and the gradients of
// lora_A, lora_B, lora_magnitude_vector and the classifier copy, without
// dropout and with dropout in training (the generator uses golora's
// masks), then evaluation-mode logits and the merged model.
func TestDoRAAgainstPyTorch(t *testing.T) {
	for _, dir := range []string{"dora", "dora-dropout"} {
		t.Run(dir, func(t *testing.T) {
			exp := mustLoad(t, filepath.Join(testdata, dir, "expected.safetensors"))
			base := loadBase(t)
			m, err := lora.Load(base, filepath.Join(testdata, dir, "adapter"))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.SetAdapter(lora.DefaultAdapterName); err != nil { // trainable, as PEFT's is_trainable
				t.Fatal(err)
			}
			nn.SetTraining(base, true)
			nn.SetStep(base, 3)
			checkStep(t, base, exp)

			nn.SetTraining(base, false)
			pix := mustTensor(t, exp, "pixel_values")
			if e := relErr(base.Forward(pix).F32(), mustTensor(t, exp, "logits_eval").F32()); e > 1e-4 {
				t.Errorf("evaluation logits relative error %g", e)
			}
			q := base.Layers[0].Attention.Attention.Query.(*lora.Linear).Base
			orig := q.Weight.Value.Clone()
			if err := m.Merge(); err != nil {
				t.Fatal(err)
			}
			if e := relErr(base.Forward(pix).F32(), mustTensor(t, exp, "logits_merged").F32()); e > 1e-5 {
				t.Errorf("merged logits relative error %g", e)
			}
			m.Unmerge()
			if e := relErr(q.Weight.Value.F32(), orig.F32()); e > 1e-6 {
				t.Errorf("unmerge: weight relative error %g", e)
			}
		})
	}
}

// TestGaussianAgainstPyTorch: an adapter saved with init_lora_weights
// "gaussian" loads (golora draws its own A, then reads the file's) and
// matches PyTorch.
func TestGaussianAgainstPyTorch(t *testing.T) {
	exp := mustLoad(t, filepath.Join(testdata, "lora-gaussian", "expected.safetensors"))
	base := loadBase(t)
	if _, err := lora.Load(base, filepath.Join(testdata, "lora-gaussian", "adapter")); err != nil {
		t.Fatal(err)
	}
	checkStep(t, base, exp)
}

// TestPiSSAOLoRAAgainstPyTorch, for PiSSA and OLoRA:
//   - loading the trained adapter onto the original base recomputes the
//     residual base weights (golora's own SVD / QR) to 1e-6 of PyTorch's,
//     and logits, loss and gradients match;
//   - golora's own initialisation equals the initial adapter PEFT's math
//     gives: OLoRA's factors directly (QR with LAPACK's signs), PiSSA's up
//     to the sign of each singular pair (an SVD's inherent freedom);
//   - converting with the initial adapter's directory (PEFT's
//     path_initial_model_for_weight_conversion) writes PEFT's converted
//     adapter: adapter_config.json byte for byte, tensors bit for bit;
//   - the converted adapter, on the unmodified base, gives the logits the
//     generator computed for it; so does golora's in-memory conversion,
//     whose initial factors come from its own decomposition.
func TestPiSSAOLoRAAgainstPyTorch(t *testing.T) {
	for _, dir := range []string{"pissa", "olora"} {
		t.Run(dir, func(t *testing.T) {
			exp := mustLoad(t, filepath.Join(testdata, dir, "expected.safetensors"))
			trained := filepath.Join(testdata, dir, "adapter")
			initial := filepath.Join(testdata, dir, "initial")
			base := loadBase(t)
			m, err := lora.Load(base, trained)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range m.Layers() {
				w := mustTensor(t, exp, "residual."+l.Name()+".weight")
				if e := relErr(l.Base.Weight.Value.F32(), w.F32()); e > 1e-6 {
					t.Errorf("%s: residual weight relative error %g", l.Name(), e)
				}
			}
			if err := m.SetAdapter(lora.DefaultAdapterName); err != nil {
				t.Fatal(err)
			}
			checkStep(t, base, exp)

			// golora's own init against the initial adapter.
			cfg, err := lora.ReadConfig(initial)
			if err != nil {
				t.Fatal(err)
			}
			own, err := lora.Inject(loadBase(t), cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			init0 := mustLoad(t, filepath.Join(initial, peft.WeightsName))
			for _, l := range own.Layers() {
				a, b, _ := l.Factors(lora.DefaultAdapterName)
				wa := mustTensor(t, init0, peft.StateKey(l.Name()+".lora_A.weight"))
				wb := mustTensor(t, init0, peft.StateKey(l.Name()+".lora_B.weight"))
				ga, gb := alignSigns(a.Value, b.Value, wa, dir == "pissa")
				if e := relErr(ga, wa.F32()); e > 1e-4 {
					t.Errorf("%s: lora_A relative error %g against PEFT's init", l.Name(), e)
				}
				if e := relErr(gb, wb.F32()); e > 1e-4 {
					t.Errorf("%s: lora_B relative error %g against PEFT's init", l.Name(), e)
				}
			}

			// Conversion through the initial adapter's directory: PEFT's file.
			out := t.TempDir()
			if err := m.SaveAdapterConverted(out, lora.DefaultAdapterName, initial); err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(testdata, dir, "converted")
			wc, _ := os.ReadFile(filepath.Join(want, peft.ConfigName))
			gc, _ := os.ReadFile(filepath.Join(out, peft.ConfigName))
			if !bytes.Equal(gc, wc) {
				t.Errorf("converted %s differs from PEFT's:\n%s", peft.ConfigName, firstDiff(gc, wc))
			}
			sameTensors(t, mustLoad(t, filepath.Join(out, peft.WeightsName)), mustLoad(t, filepath.Join(want, peft.WeightsName)))
			pix := mustTensor(t, exp, "pixel_values")
			orig := loadBase(t)
			if _, err := lora.Load(orig, out); err != nil {
				t.Fatal(err)
			}
			if e := relErr(orig.Forward(pix).F32(), mustTensor(t, exp, "logits_converted").F32()); e > 1e-4 {
				t.Errorf("converted adapter on the original base: logits relative error %g", e)
			}

			// In-memory conversion: golora's own initial factors.
			trainedW := mustLoad(t, filepath.Join(trained, peft.WeightsName))
			for _, l := range own.Layers() {
				a, b, _ := l.Factors(lora.DefaultAdapterName)
				copy(a.Value.F32(), mustTensor(t, trainedW, peft.StateKey(l.Name()+".lora_A.weight")).F32())
				copy(b.Value.F32(), mustTensor(t, trainedW, peft.StateKey(l.Name()+".lora_B.weight")).F32())
			}
			mem := t.TempDir()
			if err := own.SaveAdapterConverted(mem, lora.DefaultAdapterName, ""); err != nil {
				t.Fatal(err)
			}
			orig2 := loadBase(t)
			if _, err := lora.Load(orig2, mem); err != nil {
				t.Fatal(err)
			}
			if e := relErr(orig2.Forward(pix).F32(), mustTensor(t, exp, "logits_converted").F32()); e > 1e-4 {
				t.Errorf("in-memory conversion on the original base: logits relative error %g", e)
			}
		})
	}
}

// alignSigns returns golora's A [r, in] and B [out, r] with each rank's
// sign flipped to agree with the reference A's (PiSSA), or as they are.
func alignSigns(a, b, refA *tensor.Tensor, flip bool) ([]float32, []float32) {
	ga, gb := append([]float32(nil), a.F32()...), append([]float32(nil), b.F32()...)
	if !flip {
		return ga, gb
	}
	r, in := a.Dim(0), a.Dim(1)
	for k := 0; k < r; k++ {
		var dot float64
		for j := 0; j < in; j++ {
			dot += float64(ga[k*in+j]) * float64(refA.F32()[k*in+j])
		}
		if dot >= 0 {
			continue
		}
		for j := 0; j < in; j++ {
			ga[k*in+j] = -ga[k*in+j]
		}
		for i := 0; i < b.Dim(0); i++ {
			gb[i*r+k] = -gb[i*r+k]
		}
	}
	return ga, gb
}

// sameTensors checks that got holds exactly want's keys, dtypes, shapes and
// bytes.
func sameTensors(t *testing.T, got, want *safetensors.File) {
	t.Helper()
	if g, w := strings.Join(got.Names(), ","), strings.Join(want.Names(), ","); g != w {
		t.Fatalf("keys %s, want %s", g, w)
	}
	for _, k := range want.Names() {
		gb, gi, _ := got.Raw(k)
		wb, wi, _ := want.Raw(k)
		if gi.DType != wi.DType || !tensor.SameShape(gi.Shape, wi.Shape) || !bytes.Equal(gb, wb) {
			t.Errorf("%s: %s%v differs from %s%v", k, gi.DType, gi.Shape, wi.DType, wi.Shape)
		}
	}
}
