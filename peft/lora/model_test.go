package lora

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

func cfgWith(f func(*Config)) Config {
	c := DefaultConfig()
	c.R, c.LoraAlpha = 2, 4
	c.TargetModules = TargetList("query", "value")
	if f != nil {
		f(&c)
	}
	return c
}

func adaptedNames(m *Model) []string {
	var ns []string
	for _, l := range m.Layers() {
		ns = append(ns, l.Name())
	}
	sort.Strings(ns)
	return ns
}

func TestTargetMatching(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"suffix list", nil, "model.encoder.layer.0.attention.query model.encoder.layer.0.attention.value model.encoder.layer.1.attention.query model.encoder.layer.1.attention.value model.encoder.layer.2.attention.query model.encoder.layer.2.attention.value"},
		{"full name", func(c *Config) { c.TargetModules = TargetList("model.encoder.layer.1.attention.key") }, "model.encoder.layer.1.attention.key"},
		{"regex fullmatch", func(c *Config) { c.TargetModules = TargetRegex(`.*layer\.[02]\.attention\.(query|key)`) },
			"model.encoder.layer.0.attention.key model.encoder.layer.0.attention.query model.encoder.layer.2.attention.key model.encoder.layer.2.attention.query"},
		{"layers_to_transform", func(c *Config) { c.LayersToTransform = IntList{1} }, "model.encoder.layer.1.attention.query model.encoder.layer.1.attention.value"},
		{"layers_to_transform with pattern", func(c *Config) {
			c.LayersToTransform = IntList{0, 2}
			c.LayersPattern = StringList{"layer"}
		}, "model.encoder.layer.0.attention.query model.encoder.layer.0.attention.value model.encoder.layer.2.attention.query model.encoder.layer.2.attention.value"},
		{"exclude", func(c *Config) { c.ExcludeModules = TargetList("model.encoder.layer.0.attention.value") },
			"model.encoder.layer.0.attention.query model.encoder.layer.1.attention.query model.encoder.layer.1.attention.value model.encoder.layer.2.attention.query model.encoder.layer.2.attention.value"},
		{"all-linear leaves out the head", func(c *Config) {
			c.TargetModules = TargetRegex("all-linear")
			c.LayersToTransform = IntList{2}
		}, "model.encoder.layer.2.attention.key model.encoder.layer.2.attention.query model.encoder.layer.2.attention.value model.encoder.layer.2.output.dense"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Inject(newToy(3, 4, 3, 1), cfgWith(tc.cfg), 1)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(adaptedNames(m), " "); got != tc.want {
				t.Errorf("adapted\n  %s\nwant\n  %s", got, tc.want)
			}
		})
	}
}

func TestRankAndAlphaPattern(t *testing.T) {
	cfg := cfgWith(func(c *Config) {
		c.RankPattern = map[string]int{"layer.1.attention.value": 5}
		c.AlphaPattern = map[string]float64{"query": 16}
	})
	m, err := Inject(newToy(2, 6, 3, 1), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers() {
		a, _, _ := l.Factors("default")
		wantR, wantS := 2, float32(2) // alpha 4 / r 2
		if strings.HasSuffix(l.Name(), "layer.1.attention.value") {
			wantR, wantS = 5, 4.0/5
		}
		if strings.HasSuffix(l.Name(), "query") {
			wantS = 8 // alpha 16 / r 2
		}
		if a.Value.Dim(0) != wantR || l.Scale("default") != wantS {
			t.Errorf("%s: r=%d s=%g, want r=%d s=%g", l.Name(), a.Value.Dim(0), l.Scale("default"), wantR, wantS)
		}
	}
}

func TestInjectErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  func(*Config)
		want string
	}{
		{func(c *Config) { c.R = 0 }, "r must be positive"},
		{func(c *Config) { c.TargetModules = TargetList("query", "valeu") }, `"valeu" matches no layer`},
		{func(c *Config) { c.TargetModules = TargetList("nothing") }, "match no Linear"},
		{func(c *Config) { c.TargetModules = TargetList("projection") }, "not a Linear"},
		{func(c *Config) { c.TargetModules = TargetRegex("(unclosed") }, "regex"},
		{func(c *Config) { c.LayersPattern = StringList{"layer"} }, "layers_pattern is set but layers_to_transform is not"},
		{func(c *Config) { c.Bias = "some" }, "bias must be"},
		{func(c *Config) { c.ModulesToSave = []string{"head_x"} }, `"head_x" matches no module`},
		{func(c *Config) { c.LoraDropout = 1 }, "lora_dropout"},
		{func(c *Config) { c.InitLoraWeights = "loftq" }, `init_lora_weights "loftq" is not supported`},
		{func(c *Config) { c.InitLoraWeights = "pissa_niter_x" }, `pissa_niter_<iterations>`},
		{func(c *Config) { c.InitLoraWeights = InitPiSSA; c.R = 5 }, "needs r <= min(in, out)"},
		{func(c *Config) { c.InitLoraWeights = InitOLoRA; c.LoraAlpha = -2; c.R = 400 }, "needs r <= min(in, out)"},
		{func(c *Config) { c.InitLoraWeights = PiSSANiter(2); c.LoraAlpha = -2 }, "scaling, which must be positive"},
		{func(c *Config) { c.FanInFanOut = true }, "fan_in_fan_out"},
	} {
		_, err := Inject(newToy(2, 4, 3, 1), cfgWith(tc.cfg), 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want it to contain %q", err, tc.want)
		}
	}
}

func TestTrainabilityAndCounts(t *testing.T) {
	base := newToy(2, 4, 3, 1)
	m, err := Inject(base, cfgWith(func(c *Config) { c.ModulesToSave = []string{"classifier"} }), 1)
	if err != nil {
		t.Fatal(err)
	}
	var trainable []string
	for _, p := range nn.AllParams(base) {
		if p.Trainable {
			trainable = append(trainable, p.Name)
		} else if p.Grad != nil {
			t.Errorf("frozen %s has a gradient buffer", p.Name)
		}
	}
	sort.Strings(trainable)
	want := "classifier.bias classifier.weight " +
		"model.encoder.layer.0.attention.query.lora_A.default.weight model.encoder.layer.0.attention.query.lora_B.default.weight " +
		"model.encoder.layer.0.attention.value.lora_A.default.weight model.encoder.layer.0.attention.value.lora_B.default.weight " +
		"model.encoder.layer.1.attention.query.lora_A.default.weight model.encoder.layer.1.attention.query.lora_B.default.weight " +
		"model.encoder.layer.1.attention.value.lora_A.default.weight model.encoder.layer.1.attention.value.lora_B.default.weight"
	if got := strings.Join(trainable, " "); got != want {
		t.Errorf("trainable:\n %s\nwant\n %s", got, want)
	}
	// 4 LoRA layers × (2·4 + 4·2) + classifier 4·3+3 = 64 + 15 = 79 trainable;
	// all = base 8 Linears (4·4+4)=160 + classifier 15 + LoRA 64 + copy 15 = 254.
	tr, all := m.ParamCounts()
	if tr != 79 || all != 254 {
		t.Errorf("counts trainable=%d all=%d, want 79 and 254", tr, all)
	}
	if got := m.TrainableSummary(); got != "trainable params: 79 || all params: 254 || trainable%: 31.1024" {
		t.Errorf("summary %q", got)
	}
	if commas(667493) != "667,493" || commas(86543818) != "86,543,818" || commas(999) != "999" {
		t.Error("commas formatting")
	}
}

func TestBiasModes(t *testing.T) {
	for _, tc := range []struct {
		bias string
		want int
	}{{"none", 0}, {"all", 9}, {"lora_only", 4}} {
		base := newToy(2, 4, 3, 1)
		if _, err := Inject(base, cfgWith(func(c *Config) { c.Bias = tc.bias }), 1); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range nn.AllParams(base) {
			if p.Trainable && strings.HasSuffix(p.Name, "bias") {
				n++
			}
		}
		if n != tc.want {
			t.Errorf("bias=%s: %d trainable biases, want %d", tc.bias, n, tc.want)
		}
	}
}

func TestAdaptersAddSetDisableDelete(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	base := newToy(2, 4, 3, 9)
	x := tensor.New(tensor.F32, 3, 4)
	randFill(rng, x.F32(), 1)
	baseOut := base.forward(x).Clone()

	random := func(c *Config) { c.InitLoraWeights = InitRandom; c.ModulesToSave = []string{"classifier"} }
	m, err := Inject(base, cfgWith(random), 1)
	if err != nil {
		t.Fatal(err)
	}
	// A modules_to_save copy starts equal to the original; make it differ.
	base.classifier.(*nn.Linear).Weight.Value.F32()[0] += 1
	outA := base.forward(x).Clone()
	if err := m.AddAdapter("other", cfgWith(func(c *Config) { c.InitLoraWeights = InitRandom; c.R = 3 }), 2); err != nil {
		t.Fatal(err)
	}
	if m.ActiveAdapter() != "other" {
		t.Fatalf("active %q after AddAdapter", m.ActiveAdapter())
	}
	outB := base.forward(x).Clone()
	if maxDiff(outA, outB) < 1e-3 || maxDiff(outB, baseOut) < 1e-3 {
		t.Fatal("adapters do not change the output")
	}
	if err := m.DisableAdapters(); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(base.forward(x), baseOut); d > 1e-6 {
		t.Errorf("disabled adapters: output differs from base by %g", d)
	}
	if err := m.EnableAdapters(); err != nil {
		t.Fatal(err)
	}
	if err := m.SetAdapter("default"); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(base.forward(x), outA); d > 1e-6 {
		t.Errorf("back on default: differs by %g", d)
	}
	if err := m.SetAdapter("nope"); err == nil {
		t.Error("SetAdapter of a missing adapter succeeded")
	}
	if err := m.DeleteAdapter("default"); err != nil {
		t.Fatal(err)
	}
	if m.ActiveAdapter() != "other" {
		t.Fatalf("active %q after deleting default", m.ActiveAdapter())
	}
	if d := maxDiff(base.forward(x), outB); d > 1e-6 {
		t.Errorf("after delete: differs from adapter other by %g", d)
	}
	if err := m.DeleteAdapter("other"); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(base.forward(x), baseOut); d > 1e-6 {
		t.Errorf("all adapters deleted: output differs from base by %g", d)
	}
	for _, b := range base.blocks {
		if _, ok := b.query.(*nn.Linear); !ok {
			t.Fatal("deleting the last adapter must restore the plain Linear")
		}
	}
}

func TestMergeUnmergeModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	base := newToy(2, 6, 3, 4)
	x := tensor.New(tensor.F32, 3, 6)
	randFill(rng, x.F32(), 1)
	orig := base.blocks[0].query.(*nn.Linear).Weight.Value.Clone()
	m, err := Inject(base, cfgWith(func(c *Config) { c.InitLoraWeights = InitRandom }), 1)
	if err != nil {
		t.Fatal(err)
	}
	want := base.forward(x).Clone()
	if err := m.Merge(); err != nil {
		t.Fatal(err)
	}
	if d := relDiff(base.forward(x), want); d > 1e-5 {
		t.Errorf("merged logits differ by %g relative", d)
	}
	if err := m.Merge(); err == nil {
		t.Error("merging twice succeeded")
	}
	m.Unmerge()
	if d := maxDiff(base.blocks[0].query.(*Linear).Base.Weight.Value, orig); d > 1e-6 {
		t.Errorf("unmerge: weight off by %g", d)
	}
	plain, err := m.MergeAndUnload()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plain.(*toyModel).blocks[0].query.(*nn.Linear); !ok {
		t.Fatal("MergeAndUnload left a LoRA layer")
	}
	if d := relDiff(base.forward(x), want); d > 1e-5 {
		t.Errorf("unloaded logits differ by %g relative", d)
	}
	if n := len(nn.TrainableParams(plain)); n != 0 {
		t.Errorf("%d trainable params after unload", n)
	}
}

func maxDiff(a, b *tensor.Tensor) float64 {
	var d float64
	for i := range a.F32() {
		d = math.Max(d, math.Abs(float64(a.F32()[i]-b.F32()[i])))
	}
	return d
}

func relDiff(a, b *tensor.Tensor) float64 {
	var m float64
	for _, v := range b.F32() {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return maxDiff(a, b) / math.Max(m, 1e-12)
}
