package lora_test

import (
	"strings"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/lora"
)

// TestLoraPlusGroups: on the tiny ViT with DoRA, a classifier copy and
// trained biases, each trainable parameter gets PEFT's group: lora_B and
// 1-D parameters lr·ratio, the rest lr.
func TestLoraPlusGroups(t *testing.T) {
	base := loadBase(t)
	cfg := lora.DefaultConfig()
	cfg.TargetModules = lora.TargetList("query", "value")
	cfg.ModulesToSave = []string{"classifier"}
	cfg.UseDoRA, cfg.Bias = true, "lora_only"
	if _, err := lora.Inject(base, cfg, 1); err != nil {
		t.Fatal(err)
	}
	lp := lora.LoraPlus{LRRatio: 16, LREmbedding: lora.DefaultLREmbedding}
	if err := lp.Validate(); err != nil {
		t.Fatal(err)
	}
	scale := lp.Scale(2e-4)
	groups := map[float64]int{}
	for _, p := range nn.TrainableParams(base) {
		want := 1.0
		if strings.Contains(p.Name, "lora_B") || strings.Contains(p.Name, "magnitude") || strings.HasSuffix(p.Name, "bias") {
			want = 16
		}
		if got := scale(p); got != want {
			t.Errorf("%s: multiplier %v, want %v", p.Name, got, want)
		}
		groups[scale(p)]++
	}
	// 4 targets × (A | B, magnitude, bias) + classifier weight | bias.
	if groups[1] != 5 || groups[16] != 13 {
		t.Errorf("group sizes %v, want 5 at lr and 13 at lr·ratio", groups)
	}
	if err := (lora.LoraPlus{LRRatio: 0}).Validate(); err == nil {
		t.Error("a zero ratio was accepted")
	}
}
