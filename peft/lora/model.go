package lora

import (
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// HeadNamer is implemented by models that know their output head (ViT:
// "classifier"), which "all-linear" leaves out as PEFT does.
type HeadNamer interface {
	OutputHead() string
}

// Preparer is implemented by models that derive which layers need input
// gradients from trainability; Model calls it after every change.
type Preparer interface {
	Prepare()
}

// savedModule is one modules_to_save entry: the original parameter values
// and, per adapter, a trainable copy (PEFT's ModulesToSaveWrapper).
type savedModule struct {
	name     string
	params   []*nn.Param
	original []*tensor.Tensor
	copies   map[string][]*tensor.Tensor // adapter -> values, parallel to params
}

// Model is a base model with LoRA adapters injected: PEFT's LoraModel.
// The base keeps working as before (its Forward and Backward now run
// through the LoRA layers); Model manages adapters and trainability.
type Model struct {
	Base nn.Module

	configs  map[string]*Config
	active   string
	disabled bool
	layers   []*Linear // every LoRA layer, in forward order
	saved    []*savedModule
}

// Inject wraps base's targeted Linears with adapter "default" configured by
// cfg, freezes everything else and makes trainable exactly the LoRA factors,
// modules_to_save and the biases cfg.Bias asks for. seed fixes the
// initialisation.
func Inject(base nn.Module, cfg Config, seed uint64) (*Model, error) {
	m := &Model{Base: base, configs: map[string]*Config{}}
	if err := m.AddAdapter(DefaultAdapterName, cfg, seed); err != nil {
		return nil, err
	}
	return m, nil
}

// DefaultAdapterName is the name Inject gives its adapter, as PEFT.
const DefaultAdapterName = "default"

// slots lists every Layer slot of the tree, in forward order.
func (m *Model) slots() []nn.Slot {
	var out []nn.Slot
	_ = nn.Walk(m.Base, func(x nn.Module) error {
		if s, ok := x.(nn.Slotted); ok {
			out = append(out, s.Slots()...)
		}
		return nil
	})
	return out
}

// AddAdapter injects a new adapter name with cfg and makes it the active,
// trainable one (PEFT's add_adapter followed by set_adapter). The factors
// of all targeted layers, with their gradients, must fit in the memory
// available; the error names the largest layer and the bytes.
func (m *Model) AddAdapter(name string, cfg Config, seed uint64) error {
	return m.addAdapter(name, cfg, seed, -1)
}

// addAdapter is AddAdapter; when stored >= 0, it is the size of the file
// the factors are to be read from, which must be able to hold them.
func (m *Model) addAdapter(name string, cfg Config, seed uint64, stored int64) error {
	if name == "" || strings.ContainsAny(name, "./\\") {
		return fmt.Errorf("lora: invalid adapter name %q", name)
	}
	if _, dup := m.configs[name]; dup {
		return fmt.Errorf("lora: adapter %q already exists", name)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Bias == "" {
		cfg.Bias = "none"
	}
	head := ""
	if h, ok := m.Base.(HeadNamer); ok {
		head = h.OutputHead()
	}

	// Which modules match, and are they Linears we can wrap?
	slotByName := map[string]nn.Slot{}
	for _, s := range m.slots() {
		slotByName[s.Name] = s
	}
	matchedEntry := map[string]bool{}
	var targets []nn.Slot
	var bad []string
	_ = nn.Walk(m.Base, func(x nn.Module) error {
		n := x.Name()
		if n == "" {
			return nil
		}
		if _, isWrapper := x.(*Linear); isWrapper {
			return nil // the wrapper and its base share a name; judge once
		}
		s, isSlot := slotByName[n]
		ok, entry := cfg.matches(n, isSlot, n == head)
		if !ok || cfg.excluded(n) {
			return nil
		}
		matchedEntry[entry] = true
		if !isSlot {
			bad = append(bad, n)
			return nil
		}
		targets = append(targets, s)
		return nil
	})
	if len(bad) > 0 {
		return fmt.Errorf("lora: target_modules %s match %s, which is not a Linear layer (LoRA adapts Linear layers only)", cfg.describeTargets(), bad[0])
	}
	if len(targets) == 0 {
		return fmt.Errorf("lora: target_modules %s match no Linear layer of the model", cfg.describeTargets())
	}
	if !cfg.TargetModules.IsRegex {
		for _, t := range cfg.TargetModules.Names {
			if !matchedEntry[t] {
				return fmt.Errorf("lora: target module %q matches no layer of the model", t)
			}
		}
	}
	if cfg.FanInFanOut {
		for _, s := range targets {
			if l, _ := baseLinear(*s.Layer); !l.FanInFanOut {
				return fmt.Errorf("lora: fan_in_fan_out is set but %s stores its weight as [out, in]", s.Name)
			}
		}
	}

	// modules_to_save must exist.
	var toSave []*savedModule
	for _, want := range cfg.ModulesToSave {
		found := false
		_ = nn.Walk(m.Base, func(x nn.Module) error {
			n := x.Name()
			if n == "" || !(n == want || strings.HasSuffix(n, "."+want)) {
				return nil
			}
			found = true
			toSave = append(toSave, m.savedFor(x))
			return nil
		})
		if !found {
			return fmt.Errorf("lora: modules_to_save entry %q matches no module of the model", want)
		}
	}

	if err := cfg.checkFactorBytes(targets, stored); err != nil {
		return err
	}
	specs := make([]adapterSpec, len(targets))
	for i, s := range targets {
		r, alpha := cfg.rankAlpha(s.Name)
		specs[i] = adapterSpec{r: r, alpha: alpha, scale: cfg.Scaling(r, alpha), dropout: cfg.LoraDropout,
			init: cfg.InitLoraWeights, dora: cfg.UseDoRA}
		base, _ := baseLinear(*s.Layer)
		if err := checkInit(base, specs[i]); err != nil {
			return err
		}
	}

	// All checks passed: change the model.
	c := cfg
	m.configs[name] = &c
	for i, s := range targets {
		l, isLora := (*s.Layer).(*Linear)
		if !isLora {
			base, _ := baseLinear(*s.Layer)
			l = newLinear(base)
			*s.Layer = l
			m.layers = append(m.layers, l)
		}
		if err := l.addAdapter(name, specs[i], rngFor(seed, name, s.Name)); err != nil {
			panic(err) // checkInit accepted it above
		}
	}
	for _, sm := range toSave {
		if _, ok := sm.copies[name]; ok {
			continue // the same module listed twice
		}
		vals := make([]*tensor.Tensor, len(sm.params))
		for i := range sm.params {
			vals[i] = sm.original[i].To(tensor.F32)
		}
		sm.copies[name] = vals
	}
	return m.SetAdapter(name)
}

// checkFactorBytes checks the factors of every target with its rank from
// r and rank_pattern (see CheckFactorBytes).
func (c *Config) checkFactorBytes(targets []nn.Slot, stored int64) error {
	return CheckFactorBytes("lora", targets, func(name string) int { r, _ := c.rankAlpha(name); return r }, 0, stored)
}

// savedFor returns (creating) the modules_to_save record of module x.
func (m *Model) savedFor(x nn.Module) *savedModule {
	for _, sm := range m.saved {
		if sm.name == x.Name() {
			return sm
		}
	}
	sm := &savedModule{name: x.Name(), copies: map[string][]*tensor.Tensor{}}
	for _, p := range nn.AllParams(x) {
		sm.params = append(sm.params, p)
		sm.original = append(sm.original, p.Value)
	}
	m.saved = append(m.saved, sm)
	return sm
}

// baseLinear unwraps a slot's layer to its nn.Linear.
func baseLinear(l nn.Layer) (*nn.Linear, bool) {
	switch v := l.(type) {
	case *nn.Linear:
		return v, true
	case *Linear:
		return v.Base, true
	}
	return nil, false
}

// rngFor gives each (seed, adapter, layer) its own deterministic stream.
func rngFor(seed uint64, adapter, layer string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(adapter))
	h.Write([]byte{0})
	h.Write([]byte(layer))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// Adapters lists the adapter names, sorted.
func (m *Model) Adapters() []string {
	ns := make([]string, 0, len(m.configs))
	for n := range m.configs {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// ActiveAdapter returns the active adapter's name.
func (m *Model) ActiveAdapter() string { return m.active }

// Config returns adapter name's configuration.
func (m *Model) Config(name string) (*Config, bool) {
	c, ok := m.configs[name]
	return c, ok
}

// Layers lists the LoRA layers in forward order.
func (m *Model) Layers() []*Linear { return m.layers }

// SetAdapter makes adapter name the active and only trainable one.
func (m *Model) SetAdapter(name string) error {
	if _, ok := m.configs[name]; !ok {
		return fmt.Errorf("lora: no adapter named %q (have %v)", name, m.Adapters())
	}
	if m.merged() != "" {
		return fmt.Errorf("lora: unmerge adapter %q before switching adapters", m.merged())
	}
	m.active, m.disabled = name, false
	return m.apply()
}

// DisableAdapters makes the model compute the base outputs (PEFT's
// disable_adapter); EnableAdapters undoes it.
func (m *Model) DisableAdapters() error {
	if m.merged() != "" {
		return fmt.Errorf("lora: unmerge adapter %q before disabling adapters", m.merged())
	}
	m.disabled = true
	return m.apply()
}

// EnableAdapters re-activates the active adapter after DisableAdapters.
func (m *Model) EnableAdapters() error {
	m.disabled = false
	return m.apply()
}

// DeleteAdapter removes adapter name; the active adapter cannot be deleted
// while others exist unless another is set first (PEFT switches to the
// first remaining one; so do we).
func (m *Model) DeleteAdapter(name string) error {
	if _, ok := m.configs[name]; !ok {
		return fmt.Errorf("lora: no adapter named %q", name)
	}
	if m.merged() == name {
		return fmt.Errorf("lora: adapter %q is merged; unmerge it first", name)
	}
	delete(m.configs, name)
	keep := m.layers[:0]
	for _, l := range m.layers {
		delete(l.adapters, name)
		if len(l.adapters) > 0 {
			keep = append(keep, l)
			continue
		}
		m.replaceWith(l, l.Base) // no adapter left: restore the plain Linear
	}
	m.layers = keep
	savedKeep := m.saved[:0]
	for _, sm := range m.saved {
		delete(sm.copies, name)
		if len(sm.copies) > 0 {
			savedKeep = append(savedKeep, sm)
			continue
		}
		for i, p := range sm.params {
			p.Value = sm.original[i]
		}
	}
	m.saved = savedKeep
	if m.active == name {
		m.active = ""
		if names := m.Adapters(); len(names) > 0 {
			m.active = names[0]
		}
	}
	return m.apply()
}

// replaceWith puts layer into the slot that holds old.
func (m *Model) replaceWith(old, layer nn.Layer) {
	for _, s := range m.slots() {
		if *s.Layer == old {
			*s.Layer = layer
			return
		}
	}
}

// apply sets every layer's active adapter, the modules_to_save values and
// every parameter's trainability from (active, disabled).
func (m *Model) apply() error {
	for _, p := range nn.AllParams(m.Base) {
		if err := p.SetTrainable(false); err != nil {
			return err
		}
	}
	active := m.active
	if m.disabled {
		active = ""
	}
	for _, l := range m.layers {
		l.active = active
		if a := l.adapters[active]; a != nil {
			if err := a.A.SetTrainable(true); err != nil {
				return err
			}
			if err := a.B.SetTrainable(true); err != nil {
				return err
			}
			if a.M != nil {
				if err := a.M.SetTrainable(true); err != nil {
					return err
				}
			}
		}
	}
	for _, sm := range m.saved {
		vals, ok := sm.copies[active]
		for i, p := range sm.params {
			p.Grad = nil
			if ok {
				p.Value = vals[i]
			} else {
				p.Value = sm.original[i]
			}
		}
		if ok {
			for _, p := range sm.params {
				if err := p.SetTrainable(true); err != nil {
					return err
				}
			}
		}
	}
	if cfg := m.configs[active]; cfg != nil && cfg.Bias != "none" {
		for _, b := range m.trainableBiases(cfg) {
			if err := b.SetTrainable(true); err != nil {
				return err
			}
		}
	}
	if p, ok := m.Base.(Preparer); ok {
		p.Prepare()
	}
	return nil
}

// trainableBiases lists the biases cfg.Bias trains: every Linear bias for
// "all" (PEFT: every parameter whose name contains "bias"), the adapted
// layers' biases for "lora_only".
func (m *Model) trainableBiases(cfg *Config) []*nn.Param {
	var out []*nn.Param
	switch cfg.Bias {
	case "all":
		for _, p := range nn.AllParams(m.Base) {
			if strings.HasSuffix(p.Name, "bias") {
				out = append(out, p)
			}
		}
	case "lora_only":
		for _, l := range m.layers {
			if _, ok := l.adapters[m.active]; ok && l.Base.Bias != nil {
				out = append(out, l.Base.Bias)
			}
		}
	}
	return out
}

// merged returns the adapter merged into the base weights, if any.
func (m *Model) merged() string {
	for _, l := range m.layers {
		if l.merged != "" {
			return l.merged
		}
	}
	return ""
}

// Merge folds the active adapter into the base weights (W += s·B·A), so
// the model computes the same outputs with no LoRA work per step.
func (m *Model) Merge() error {
	if m.merged() != "" {
		return fmt.Errorf("lora: adapter %q is already merged", m.merged())
	}
	for i, l := range m.layers {
		if err := l.merge(m.active); err != nil {
			for _, u := range m.layers[:i] {
				u.unmerge()
			}
			return err
		}
	}
	return nil
}

// Unmerge subtracts the merged adapter from the base weights again.
func (m *Model) Unmerge() {
	for _, l := range m.layers {
		l.unmerge()
	}
}

// MergeAndUnload merges the active adapter, applies its modules_to_save
// copies for good and returns the plain base model with every LoRA layer
// removed: an ordinary model that saves as an ordinary checkpoint. m must
// not be used afterwards.
func (m *Model) MergeAndUnload() (nn.Module, error) {
	if m.merged() == "" {
		if err := m.Merge(); err != nil {
			return nil, err
		}
	}
	for _, l := range m.layers {
		m.replaceWith(l, l.Base)
	}
	for _, sm := range m.saved {
		if vals, ok := sm.copies[m.active]; ok {
			for i, p := range sm.params {
				p.Value = vals[i]
			}
		}
	}
	for _, p := range nn.AllParams(m.Base) {
		_ = p.SetTrainable(false)
	}
	m.layers, m.saved, m.configs = nil, nil, map[string]*Config{}
	if p, ok := m.Base.(Preparer); ok {
		p.Prepare()
	}
	return m.Base, nil
}

// ParamCounts returns PEFT's counts: trainable parameters, and all
// parameters including every adapter's factors and every modules_to_save
// copy beside the originals (as PEFT's wrapper holds both).
func (m *Model) ParamCounts() (trainable, all int64) {
	for _, p := range nn.AllParams(m.Base) {
		all += int64(p.Len())
		if p.Trainable {
			trainable += int64(p.Len())
		}
	}
	for _, sm := range m.saved {
		for range sm.copies {
			for _, p := range sm.params {
				all += int64(p.Len())
			}
		}
	}
	return trainable, all
}

// PrintTrainableParameters writes TrainableSummary and a newline to w.
func (m *Model) PrintTrainableParameters(w io.Writer) {
	fmt.Fprintln(w, m.TrainableSummary())
}

// TrainableSummary is PrintTrainableParameters' line, in PEFT's words.
func (m *Model) TrainableSummary() string {
	t, a := m.ParamCounts()
	pct := 0.0
	if a > 0 {
		pct = 100 * float64(t) / float64(a)
	}
	return fmt.Sprintf("trainable params: %s || all params: %s || trainable%%: %.4f", commas(t), commas(a), pct)
}

// commas formats n with thousands separators, as Python's "{:,d}".
func commas(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
