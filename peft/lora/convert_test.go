package lora_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/safetensors"
)

// TestConvertedAdapterLoadsOnOriginalBase: an adapter trained from a
// PiSSA or OLoRA init (here: factors and the classifier copy moved off
// their initial values, as training does) and saved converted gives, on
// the unmodified base, the logits of the trained model on its residual
// base. The in-memory and the initial-directory routes write the same
// files; the converted config doubles r and lora_alpha and says
// init_lora_weights true.
func TestConvertedAdapterLoadsOnOriginalBase(t *testing.T) {
	exp, err := safetensors.Load(filepath.Join(testdata, "lora", "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	pix := mustTensor(t, exp, "pixel_values")
	for _, init := range []lora.Init{lora.InitPiSSA, lora.InitOLoRA, lora.PiSSANiter(2)} {
		for _, rslora := range []bool{false, true} {
			name := string(init)
			if rslora {
				name += "-rslora"
			}
			t.Run(name, func(t *testing.T) {
				base := loadBase(t)
				cfg := lora.DefaultConfig()
				cfg.R, cfg.LoraAlpha, cfg.UseRSLoRA, cfg.InitLoraWeights = 4, 8, rslora, init
				cfg.TargetModules = lora.TargetList("query", "value")
				cfg.ModulesToSave = []string{"classifier"}
				cfg.AlphaPattern = map[string]float64{}
				if !rslora {
					cfg.RankPattern = map[string]int{"value": 2}
					cfg.AlphaPattern = map[string]float64{"value": 6}
				}
				m, err := lora.Inject(base, cfg, 7)
				if err != nil {
					t.Fatal(err)
				}
				nn.SetTraining(base, false)
				if e := relErr(base.Forward(pix).F32(), mustTensor(t, mustLoad(t, filepath.Join(testdata, "vit-tiny", "expected.safetensors")), "logits").F32()); e > 1e-5 {
					t.Errorf("right after %s init the logits moved by %g (residual + s·B·A must be W)", init, e)
				}
				initDir := filepath.Join(t.TempDir(), "initial")
				if err := m.SaveInitialAdapter(initDir, "default"); err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(3, 4))
				for _, p := range nn.TrainableParams(base) { // "training"
					for i := range p.Value.F32() {
						p.Value.F32()[i] += float32(0.05 * rng.NormFloat64())
					}
				}
				want := base.Forward(pix).Clone()

				dirMem, dirDisk := t.TempDir(), t.TempDir()
				if err := m.SaveAdapterConverted(dirMem, "default", ""); err != nil {
					t.Fatal(err)
				}
				if err := m.SaveAdapterConverted(dirDisk, "default", initDir); err != nil {
					t.Fatal(err)
				}
				for _, f := range []string{peft.ConfigName, peft.WeightsName} {
					a, _ := os.ReadFile(filepath.Join(dirMem, f))
					b, _ := os.ReadFile(filepath.Join(dirDisk, f))
					if !bytes.Equal(a, b) {
						t.Errorf("%s: the in-memory and the initial-directory conversions differ", f)
					}
				}
				conv, err := lora.ReadConfig(dirMem)
				if err != nil {
					t.Fatal(err)
				}
				wantAlpha := 16.0
				if rslora {
					wantAlpha = 8 * 1.4142135623730951
				}
				if conv.R != 8 || conv.LoraAlpha != wantAlpha || conv.InitLoraWeights != lora.InitDefault {
					t.Errorf("converted config r %d alpha %v init %q; want 8, %v, true", conv.R, conv.LoraAlpha, conv.InitLoraWeights, wantAlpha)
				}
				if !rslora && (conv.RankPattern["value"] != 4 || conv.AlphaPattern["value"] != 12) {
					t.Errorf("converted patterns %v %v, want doubled", conv.RankPattern, conv.AlphaPattern)
				}

				orig := loadBase(t)
				if _, err := lora.Load(orig, dirMem); err != nil {
					t.Fatal(err)
				}
				nn.SetTraining(orig, false)
				if e := relErr(orig.Forward(pix).F32(), want.F32()); e > 1e-5 {
					t.Errorf("converted adapter on the original base: logits relative error %g", e)
				}
			})
		}
	}
}

// TestConvertRefusals: what cannot be converted is refused with a message.
func TestConvertRefusals(t *testing.T) {
	for _, tc := range []struct {
		edit func(*lora.Config)
		want string
	}{
		{func(c *lora.Config) { c.InitLoraWeights = lora.InitDefault }, "keeps the base weight"},
		{func(c *lora.Config) { c.UseDoRA = true }, "DoRA"},
		{func(c *lora.Config) { c.UseRSLoRA = true; c.RankPattern = map[string]int{"value": 2} }, "use_rslora"},
	} {
		cfg := lora.DefaultConfig()
		cfg.R, cfg.LoraAlpha, cfg.InitLoraWeights = 4, 8, lora.InitPiSSA
		cfg.TargetModules = lora.TargetList("query", "value")
		tc.edit(&cfg)
		m, err := lora.Inject(loadBase(t), cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		err = m.SaveAdapterConverted(t.TempDir(), "default", "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want it to mention %q", err, tc.want)
		}
	}
}

func mustLoad(t *testing.T, path string) *safetensors.File {
	t.Helper()
	f, err := safetensors.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
