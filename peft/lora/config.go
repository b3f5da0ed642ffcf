package lora

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/golora/golora/internal/sizecheck"
)

// AllLinear is PEFT's shorthand target: every Linear except the output head.
const AllLinear = "all-linear"

// Targets is target_modules / exclude_modules: either a list of names
// (matched exactly or as a dotted suffix) or one regular expression matched
// against the whole module name (re.fullmatch in PEFT).
type Targets struct {
	Names []string
	Regex string // used when IsRegex
	// IsRegex is true when the JSON value was a string.
	IsRegex bool
}

// TargetList returns list-form targets.
func TargetList(names ...string) Targets { return Targets{Names: names} }

// TargetRegex returns a regex target ("all-linear" is recognised too).
func TargetRegex(re string) Targets { return Targets{Regex: re, IsRegex: true} }

// IsZero reports whether no targets are set (JSON null).
func (t Targets) IsZero() bool { return !t.IsRegex && t.Names == nil }

// MarshalJSON writes a list (sorted and without repeats, as PEFT
// serialises its set) or a string.
func (t Targets) MarshalJSON() ([]byte, error) {
	if t.IsRegex {
		return json.Marshal(t.Regex)
	}
	if t.Names == nil {
		return []byte("null"), nil
	}
	s := append([]string{}, t.Names...) // [] stays [], not null
	sort.Strings(s)
	return json.Marshal(slices.Compact(s))
}

// UnmarshalJSON accepts null, a string or a list of strings.
func (t *Targets) UnmarshalJSON(b []byte) error {
	*t = Targets{}
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '"':
		t.IsRegex = true
		return json.Unmarshal(b, &t.Regex)
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	if names == nil {
		names = []string{}
	}
	t.Names = names
	return nil
}

// IntList is layers_to_transform: an int or a list of ints.
type IntList []int

// UnmarshalJSON accepts null, an int or a list of ints.
func (l *IntList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*l = nil
		return nil
	}
	var one int
	if err := json.Unmarshal(b, &one); err == nil {
		*l = IntList{one}
		return nil
	}
	var many []int
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want an int or a list of ints: %w", err)
	}
	*l = many
	return nil
}

// StringList is layers_pattern: a string or a list of strings.
type StringList []string

// UnmarshalJSON accepts null, a string or a list of strings.
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*l = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = StringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*l = many
	return nil
}

// Init is init_lora_weights, as PEFT's LoraLayer.update_layer reads it:
//
//   - true: A kaiming-uniform(a=√5), B = 0 (the default);
//   - false: A and B both keep nn.Linear's default init, so the adapter is
//     not the identity (PEFT: for tests);
//   - "gaussian": A ~ N(0, 1/r²), B = 0;
//   - "pissa": A = √(S_r/s)·V_rᵀ and B = U_r·√(S_r/s) from the exact SVD
//     W = U·S·Vᵀ of the base weight, which becomes the residual W − s·B·A;
//   - "pissa_niter_N": the same from torch.svd_lowrank with N subspace
//     iterations (randomized, fast);
//   - "olora": B = Q_r, A = R_r from the QR decomposition W = Q·R, the base
//     weight becoming W − s·B·A.
type Init string

// Init values.
const (
	InitDefault  Init = "true"
	InitGaussian Init = "gaussian"
	InitRandom   Init = "false"
	InitPiSSA    Init = "pissa"
	InitOLoRA    Init = "olora"
)

// PiSSANiter returns the init "pissa_niter_<n>".
func PiSSANiter(n int) Init { return Init(fmt.Sprintf("pissa_niter_%d", n)) }

// pissaNiter parses "pissa_niter_<n>": n and true, or false for any other
// init.
func (i Init) pissaNiter() (int, bool) {
	rest, ok := strings.CutPrefix(string(i), "pissa_niter_")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// MutatesBase reports whether the init rewrites the base weight to a
// residual (PiSSA, OLoRA), so that an adapter trained from it must be
// converted (SaveAdapterConverted) to apply to the original base.
func (i Init) MutatesBase() bool {
	_, niter := i.pissaNiter()
	return i == InitPiSSA || i == InitOLoRA || niter
}

// check validates an init value, naming what golora supports.
func (i Init) check() error {
	switch i {
	case "", InitDefault, InitRandom, InitGaussian, InitPiSSA, InitOLoRA:
		return nil
	}
	if _, ok := i.pissaNiter(); ok {
		return nil
	}
	if strings.HasPrefix(string(i), "pissa") {
		return fmt.Errorf("lora: init_lora_weights %q: want \"pissa\" or \"pissa_niter_<iterations>\"", string(i))
	}
	return fmt.Errorf("lora: init_lora_weights %q is not supported (true, false, \"gaussian\", \"pissa\", \"pissa_niter_<n>\" or \"olora\")", string(i))
}

// MarshalJSON writes true/false as booleans, other methods as strings.
func (i Init) MarshalJSON() ([]byte, error) {
	switch i {
	case InitDefault, "":
		return []byte("true"), nil
	case InitRandom:
		return []byte("false"), nil
	}
	return json.Marshal(string(i))
}

// UnmarshalJSON accepts a boolean or a method name.
func (i *Init) UnmarshalJSON(b []byte) error {
	var v bool
	if err := json.Unmarshal(b, &v); err == nil {
		if v {
			*i = InitDefault
		} else {
			*i = InitRandom
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a boolean or a string: %w", err)
	}
	*i = Init(s)
	return nil
}

// Config is PEFT's LoraConfig. Only the fields golora acts on are typed;
// Load keeps every other field of a file in Extra and Save writes PEFT's
// full field set.
type Config struct {
	PeftType            string                     `json:"peft_type"`
	TaskType            *string                    `json:"task_type"`
	BaseModelNameOrPath *string                    `json:"base_model_name_or_path"`
	InferenceMode       bool                       `json:"inference_mode"`
	R                   int                        `json:"r"`
	LoraAlpha           float64                    `json:"lora_alpha"`
	LoraDropout         float64                    `json:"lora_dropout"`
	TargetModules       Targets                    `json:"target_modules"`
	ExcludeModules      Targets                    `json:"exclude_modules"`
	ModulesToSave       []string                   `json:"modules_to_save"`
	Bias                string                     `json:"bias"`
	UseRSLoRA           bool                       `json:"use_rslora"`
	UseDoRA             bool                       `json:"use_dora"`
	InitLoraWeights     Init                       `json:"init_lora_weights"`
	LayersToTransform   IntList                    `json:"layers_to_transform"`
	LayersPattern       StringList                 `json:"layers_pattern"`
	RankPattern         map[string]int             `json:"rank_pattern"`
	AlphaPattern        map[string]float64         `json:"alpha_pattern"`
	FanInFanOut         bool                       `json:"fan_in_fan_out"`
	LoraBias            bool                       `json:"lora_bias"`
	AutoMapping         map[string]string          `json:"auto_mapping,omitempty"`
	Revision            *string                    `json:"revision"`
	Extra               map[string]json.RawMessage `json:"-"`
}

// MaxRank bounds r and every rank_pattern value. PEFT accepts any positive
// r, also one larger than min(in, out) of a layer (B·A then has no more
// rank than min(in, out), so a larger r only costs memory). golora accepts
// such ranks too, up to MaxRank, which is above the width of any real
// layer; what really limits r is bytes: the factors A [r, in] and B
// [out, r] of every targeted layer are checked against the adapter file
// when loading and against the memory available when injecting
// (internal/sizecheck), with an error naming the layer and the bytes.
const MaxRank = 1 << 16

// DefaultConfig returns PEFT's LoraConfig defaults (r 8, alpha 8, no
// dropout, bias "none", init true).
func DefaultConfig() Config {
	return Config{PeftType: "LORA", R: 8, LoraAlpha: 8, Bias: "none", InitLoraWeights: InitDefault,
		RankPattern: map[string]int{}, AlphaPattern: map[string]float64{}}
}

// Validate checks the fields golora needs, with errors that name them.
func (c *Config) Validate() error {
	if c.PeftType != "" && c.PeftType != "LORA" {
		return fmt.Errorf("lora: peft_type %q is not LORA", c.PeftType)
	}
	if c.R <= 0 {
		return fmt.Errorf("lora: r must be positive, got %d", c.R)
	}
	if err := sizecheck.Int("lora: r", int64(c.R), 1, MaxRank); err != nil {
		return err
	}
	if math.IsNaN(c.LoraAlpha) || math.IsInf(c.LoraAlpha, 0) || c.LoraAlpha == 0 {
		return fmt.Errorf("lora: lora_alpha must be finite and non-zero, got %v", c.LoraAlpha)
	}
	if c.LoraDropout < 0 || c.LoraDropout >= 1 || math.IsNaN(c.LoraDropout) {
		return fmt.Errorf("lora: lora_dropout must be in [0, 1), got %v", c.LoraDropout)
	}
	switch c.Bias {
	case "", "none", "all", "lora_only":
	default:
		return fmt.Errorf("lora: bias must be \"none\", \"all\" or \"lora_only\", got %q", c.Bias)
	}
	if err := c.InitLoraWeights.check(); err != nil {
		return err
	}
	if c.LoraBias {
		return fmt.Errorf("lora: lora_bias is not supported yet")
	}
	if c.TargetModules.IsZero() || !c.TargetModules.IsRegex && len(c.TargetModules.Names) == 0 {
		return fmt.Errorf("lora: target_modules is empty: name the layers to adapt (e.g. query,value)")
	}
	for _, t := range []Targets{c.TargetModules, c.ExcludeModules} {
		if t.IsRegex && !strings.EqualFold(t.Regex, AllLinear) {
			if _, err := regexp.Compile(t.Regex); err != nil {
				return fmt.Errorf("lora: target_modules regex %q: %v", t.Regex, err)
			}
		}
	}
	if len(c.LayersPattern) > 0 && len(c.LayersToTransform) == 0 {
		return fmt.Errorf("lora: layers_pattern is set but layers_to_transform is not")
	}
	if c.TargetModules.IsRegex && len(c.LayersToTransform) > 0 && !strings.EqualFold(c.TargetModules.Regex, AllLinear) {
		return fmt.Errorf("lora: layers_to_transform cannot be used with a regex target_modules (PEFT ignores it there); put the layer in the regex")
	}
	for k, r := range c.RankPattern {
		if r <= 0 {
			return fmt.Errorf("lora: rank_pattern[%q] must be positive, got %d", k, r)
		}
		if err := sizecheck.Int(fmt.Sprintf("lora: rank_pattern[%q]", k), int64(r), 1, MaxRank); err != nil {
			return err
		}
		if _, err := patternRegexp(k); err != nil {
			return fmt.Errorf("lora: rank_pattern key %q: %v", k, err)
		}
	}
	for k, a := range c.AlphaPattern {
		if math.IsNaN(a) || math.IsInf(a, 0) || a == 0 {
			return fmt.Errorf("lora: alpha_pattern[%q] must be finite and non-zero, got %v", k, a)
		}
		if _, err := patternRegexp(k); err != nil {
			return fmt.Errorf("lora: alpha_pattern key %q: %v", k, err)
		}
	}
	return nil
}

// Scaling returns s for a layer with rank r and alpha: alpha/r, or
// alpha/√r with use_rslora.
func (c *Config) Scaling(r int, alpha float64) float64 {
	if c.UseRSLoRA {
		return alpha / math.Sqrt(float64(r))
	}
	return alpha / float64(r)
}
