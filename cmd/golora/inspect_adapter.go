package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/golora/golora/models"
	"github.com/golora/golora/peft"
	"github.com/golora/golora/peft/adalora"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/safetensors"
)

// adapterReport describes a PEFT LoRA adapter directory.
type adapterReport struct {
	Dir           string          `json:"dir"`
	PeftType      string          `json:"peft_type"`
	BaseModel     string          `json:"base_model_name_or_path,omitempty"`
	R             int             `json:"r"`
	LoraAlpha     float64         `json:"lora_alpha"`
	LoraDropout   float64         `json:"lora_dropout"`
	UseRSLoRA     bool            `json:"use_rslora"`
	TargetModules lora.Targets    `json:"target_modules"`
	ModulesToSave []string        `json:"modules_to_save"`
	Bias          string          `json:"bias"`
	RankPattern   map[string]int  `json:"rank_pattern,omitempty"`
	UseDoRA       bool            `json:"use_dora"`
	InitWeights   lora.Init       `json:"init_lora_weights"`
	AdaLoRA       *adaloraReport  `json:"adalora,omitempty"`
	Tensors       []adapterTensor `json:"tensors"`
	LoraParams    int64           `json:"lora_params"`
	OtherParams   int64           `json:"other_params"`
	// With a model: PEFT's print_trainable_parameters line.
	Trainable string `json:"trainable,omitempty"`
}

// adaloraReport is an AdaLoRA adapter's schedule and final allocation.
type adaloraReport struct {
	InitR     int            `json:"init_r"`
	TargetR   int            `json:"target_r"`
	TotalStep int            `json:"total_step"`
	KeptRanks map[string]int `json:"kept_ranks,omitempty"` // from rank_pattern
}

type adapterTensor struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

// inspectAdapter reads dir's config and tensors; with a model it also
// loads the adapter onto it, which checks every name and shape.
func inspectAdapter(dir string, m models.Model) (*adapterReport, error) {
	var cfg lora.Config
	var ada *adaloraReport
	if adalora.IsAdaLoRA(dir) {
		ac, err := adalora.ReadConfig(dir)
		if err != nil {
			return nil, err
		}
		cfg, ada = ac.Config, &adaloraReport{InitR: ac.InitR, TargetR: ac.TargetR, TotalStep: ac.TotalStep}
		cfg.R = ac.InitR
		for k, mask := range ac.RankPattern {
			if ada.KeptRanks == nil {
				ada.KeptRanks = map[string]int{}
			}
			for _, keep := range mask {
				if keep {
					ada.KeptRanks[strings.TrimSuffix(k, ".lora_E")]++
				}
			}
		}
	} else {
		var err error
		if cfg, err = lora.ReadConfig(dir); err != nil {
			return nil, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, peft.ConfigName), err)
	}
	f, err := safetensors.Load(filepath.Join(dir, peft.WeightsName))
	if err != nil {
		return nil, err
	}
	r := &adapterReport{Dir: dir, PeftType: cfg.PeftType, R: cfg.R, LoraAlpha: cfg.LoraAlpha,
		LoraDropout: cfg.LoraDropout, UseRSLoRA: cfg.UseRSLoRA, TargetModules: cfg.TargetModules,
		ModulesToSave: cfg.ModulesToSave, Bias: cfg.Bias, RankPattern: cfg.RankPattern,
		UseDoRA: cfg.UseDoRA, InitWeights: cfg.InitLoraWeights, AdaLoRA: ada}
	if cfg.BaseModelNameOrPath != nil {
		r.BaseModel = *cfg.BaseModelNameOrPath
	}
	for _, n := range f.Names() {
		info, _ := f.Info(n)
		r.Tensors = append(r.Tensors, adapterTensor{Name: n, DType: info.DType, Shape: info.Shape})
		count := int64(1)
		for _, d := range info.Shape {
			count *= int64(d)
		}
		if strings.Contains(n, ".lora_") {
			r.LoraParams += count
		} else {
			r.OtherParams += count
		}
	}
	if m != nil {
		if ada != nil {
			am, err := adalora.Load(m, dir)
			if err == nil {
				err = am.SetTrainable(true) // counted as PEFT counts a trainable adapter
			}
			if err != nil {
				return nil, err
			}
			r.Trainable = am.TrainableSummary()
		} else {
			lm, err := lora.Load(m, dir)
			if err != nil {
				return nil, err
			}
			r.Trainable = lm.TrainableSummary()
		}
	}
	return r, nil
}

func (r *adapterReport) writeText(w io.Writer) {
	if r == nil {
		return
	}
	targets, _ := r.TargetModules.MarshalJSON()
	fmt.Fprintf(w, "adapter       %s (%s, base %q)\n", r.Dir, r.PeftType, r.BaseModel)
	fmt.Fprintf(w, "lora          r %d, lora_alpha %g, dropout %g, rslora %v, bias %s, dora %v, init %s\n", r.R, r.LoraAlpha, r.LoraDropout, r.UseRSLoRA, r.Bias, r.UseDoRA, r.InitWeights)
	if a := r.AdaLoRA; a != nil {
		fmt.Fprintf(w, "adalora       init_r %d, target_r %d, total_step %d", a.InitR, a.TargetR, a.TotalStep)
		if a.KeptRanks != nil {
			keys := make([]string, 0, len(a.KeptRanks))
			for k := range a.KeptRanks {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Fprint(w, "; kept ranks")
			for _, k := range keys {
				fmt.Fprintf(w, " %s:%d", k, a.KeptRanks[k])
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "targets       %s; modules_to_save %v\n", targets, r.ModulesToSave)
	if len(r.RankPattern) > 0 {
		fmt.Fprintf(w, "rank_pattern  %v\n", r.RankPattern)
	}
	fmt.Fprintf(w, "tensors       %d: %s LoRA values + %s others\n", len(r.Tensors), thousands(r.LoraParams), thousands(r.OtherParams))
	for _, t := range r.Tensors {
		fmt.Fprintf(w, "  %-80s %s %v\n", t.Name, t.DType, t.Shape)
	}
	if r.Trainable != "" {
		fmt.Fprintln(w, r.Trainable)
	}
}
