package adalora

import (
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"strings"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/tensor"
)

// Model is a base model with AdaLoRA injected: PEFT's AdaLoraModel with its
// one trainable adapter. The base keeps working as before (its Forward and
// Backward run through the SVD layers); Model owns the configuration, the
// rank allocator and the regulariser.
type Model struct {
	Base nn.Module

	cfg    Config
	layers []*Linear        // every adapted layer, in forward order
	saved  []*nn.Param      // modules_to_save parameters, holding trained copies
	orig   []*tensor.Tensor // their original values, parallel to saved
	alloc  *RankAllocator
	// regLoss is the regulariser's value at the last Regularize.
	regLoss float64
	// gram is the regulariser's Gram matrix C (maxRank² values, counted as
	// workspace), made at the first Regularize.
	gram []float64
}

// Inject wraps base's targeted Linears with rank-init_r SVD adapters
// (A, B ~ N(0, 0.02²), E = 0, as PEFT's reset_lora_parameters; with
// init_lora_weights false, all three ~ N(0, 1) as torch.randn), freezes
// everything else and makes trainable exactly the factors and
// modules_to_save. seed fixes the initialisation.
func Inject(base nn.Module, cfg Config, seed uint64) (*Model, error) {
	return inject(base, cfg, seed, -1)
}

// inject is Inject; when stored >= 0, it is the size of the adapter file the
// factors are to be read from (see lora.CheckFactorBytes).
func inject(base nn.Module, cfg Config, seed uint64, stored int64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Bias != "" && cfg.Bias != "none" {
		return nil, fmt.Errorf("adalora: bias %q is not supported (only \"none\")", cfg.Bias)
	}
	l := cfg.loraPart()
	slots, err := lora.TargetSlots(base, &l)
	if err != nil {
		return nil, fmt.Errorf("adalora: %w", err)
	}
	if err := lora.CheckFactorBytes("adalora", slots, func(string) int { return cfg.InitR }, 1, stored); err != nil {
		return nil, err
	}
	var toSave []*nn.Param
	for _, want := range cfg.ModulesToSave {
		ms := lora.ModulesMatching(base, want)
		if len(ms) == 0 {
			return nil, fmt.Errorf("adalora: modules_to_save entry %q matches no module of the model", want)
		}
		for _, x := range ms {
			toSave = append(toSave, nn.AllParams(x)...)
		}
	}
	m := &Model{Base: base, cfg: cfg}
	for _, p := range nn.AllParams(base) {
		if err := p.SetTrainable(false); err != nil {
			return nil, err
		}
	}
	for _, s := range slots {
		lin := newLinear((*s.Layer).(*nn.Linear), cfg.InitR, cfg.Scaling(), cfg.LoraDropout)
		initFactors(lin, cfg.InitLoraWeights, rngFor(seed, s.Name))
		*s.Layer = lin
		m.layers = append(m.layers, lin)
	}
	seen := map[*nn.Param]bool{}
	for _, p := range toSave {
		if seen[p] {
			continue
		}
		seen[p] = true
		m.orig = append(m.orig, p.Value)
		p.Value = p.Value.To(tensor.F32) // PEFT trains a copy; the original stays untouched
		m.saved = append(m.saved, p)
	}
	if err := m.setTrainable(true); err != nil {
		return nil, err
	}
	if len(cfg.RankPattern) > 0 {
		if err := m.applyPattern(cfg.RankPattern); err != nil {
			return nil, err
		}
	}
	m.alloc = newRankAllocator(m)
	return m, nil
}

// initFactors draws A, B ~ N(0, 0.02²) and sets E = 0 (init true), or draws
// all three from N(0, 1) (init false).
func initFactors(l *Linear, init lora.Init, rng *rand.Rand) {
	std := 0.02
	if init == lora.InitRandom {
		std = 1
	}
	for _, p := range []*nn.Param{l.A, l.B, l.E} {
		if p == l.E && init != lora.InitRandom {
			continue
		}
		v := p.Value.F32()
		for i := range v {
			v[i] = float32(rng.NormFloat64() * std)
		}
	}
}

// rngFor gives each (seed, layer) its own deterministic stream.
func rngFor(seed uint64, layer string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte("adalora\x00"))
	h.Write([]byte(layer))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// setTrainable marks the factors and modules_to_save copies.
func (m *Model) setTrainable(on bool) error {
	for _, l := range m.layers {
		for _, p := range l.Params() {
			if err := p.SetTrainable(on); err != nil {
				return err
			}
		}
	}
	for _, p := range m.saved {
		if err := p.SetTrainable(on); err != nil {
			return err
		}
	}
	if p, ok := m.Base.(lora.Preparer); ok {
		p.Prepare()
	}
	return nil
}

// Config returns the adapter's configuration; its RankPattern is the
// latest allocation.
func (m *Model) Config() *Config { return &m.cfg }

// Layers lists the SVD layers in forward order.
func (m *Model) Layers() []*Linear { return m.layers }

// Allocator returns the rank allocator.
func (m *Model) Allocator() *RankAllocator { return m.alloc }

// SetTrainable makes the factors and modules_to_save trainable (on) or
// frozen; Load returns a frozen model.
func (m *Model) SetTrainable(on bool) error { return m.setTrainable(on) }

// DisableAdapters makes the model compute the base outputs; EnableAdapters
// undoes it.
func (m *Model) DisableAdapters() {
	for _, l := range m.layers {
		l.enabled = false
	}
}

// EnableAdapters re-activates the adapters after DisableAdapters.
func (m *Model) EnableAdapters() {
	for _, l := range m.layers {
		l.enabled = true
	}
}

// Merge folds every update into its base weight.
func (m *Model) Merge() error {
	for i, l := range m.layers {
		if err := l.merge(); err != nil {
			for _, u := range m.layers[:i] {
				u.unmerge()
			}
			return err
		}
	}
	return nil
}

// Unmerge subtracts the merged updates again.
func (m *Model) Unmerge() {
	for _, l := range m.layers {
		l.unmerge()
	}
}

// MergeAndUnload merges the updates and returns the plain base model with
// every SVD layer removed (modules_to_save values stay in place). m must
// not be used afterwards.
func (m *Model) MergeAndUnload() (nn.Module, error) {
	if err := m.Merge(); err != nil {
		return nil, err
	}
	m.unwrap()
	for _, p := range nn.AllParams(m.Base) {
		_ = p.SetTrainable(false)
	}
	m.layers, m.saved, m.orig = nil, nil, nil
	if p, ok := m.Base.(lora.Preparer); ok {
		p.Prepare()
	}
	return m.Base, nil
}

// unwrap puts every SVD layer's base Linear back into its slot.
func (m *Model) unwrap() {
	_ = nn.Walk(m.Base, func(x nn.Module) error {
		if s, ok := x.(nn.Slotted); ok {
			for _, sl := range s.Slots() {
				if l, ok := (*sl.Layer).(*Linear); ok {
					*sl.Layer = l.Base
				}
			}
		}
		return nil
	})
}

// Unload removes the adapter without merging: the base model as it was
// before Inject (modules_to_save back to their original values, every
// parameter frozen). m must not be used afterwards.
func (m *Model) Unload() nn.Module {
	m.unwrap()
	for i, p := range m.saved {
		p.Value = m.orig[i]
	}
	for _, p := range nn.AllParams(m.Base) {
		_ = p.SetTrainable(false)
	}
	m.layers, m.saved, m.orig = nil, nil, nil
	if p, ok := m.Base.(lora.Preparer); ok {
		p.Prepare()
	}
	return m.Base
}

// ParamCounts returns PEFT's counts: trainable parameters, and all
// parameters including the factors and a second copy of every
// modules_to_save parameter (PEFT's wrapper holds the original beside it).
func (m *Model) ParamCounts() (trainable, all int64) {
	for _, p := range nn.AllParams(m.Base) {
		all += int64(p.Len())
		if p.Trainable {
			trainable += int64(p.Len())
		}
	}
	for _, p := range m.saved {
		all += int64(p.Len())
	}
	return trainable, all
}

// TrainableSummary is PEFT's print_trainable_parameters line.
func (m *Model) TrainableSummary() string {
	t, a := m.ParamCounts()
	pct := 0.0
	if a > 0 {
		pct = 100 * float64(t) / float64(a)
	}
	return fmt.Sprintf("trainable params: %s || all params: %s || trainable%%: %.4f", commas(t), commas(a), pct)
}

// PrintTrainableParameters writes TrainableSummary and a newline to w.
func (m *Model) PrintTrainableParameters(w io.Writer) { fmt.Fprintln(w, m.TrainableSummary()) }

// KeptRanks returns the number of unmasked singular values per layer, in
// forward order (all init_r before the first allocation).
func (m *Model) KeptRanks() []int {
	out := make([]int, len(m.layers))
	for i, l := range m.layers {
		out[i] = l.r
		if mask, ok := m.cfg.RankPattern[patternKey(l)]; ok {
			out[i] = countTrue(mask)
		}
	}
	return out
}

// patternKey is a layer's rank_pattern key as PEFT saves it.
func patternKey(l *Linear) string { return l.Name() + ".lora_E" }

// moduleOfKey is PEFT's resize rule: drop ".lora_E" (and an adapter name).
func moduleOfKey(k string) string {
	k = strings.TrimSuffix(k, "."+adapterName)
	return strings.TrimSuffix(k, ".lora_E")
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
