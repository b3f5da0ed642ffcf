package main

import (
	"fmt"
	"io"

	"github.com/golora/golora/models"
	"github.com/golora/golora/peft/adalora"
	"github.com/golora/golora/peft/lora"
)

// familyFlags are the LoRA family's knobs on top of LoraConfig's basic
// fields: DoRA, the initialisation and LoRA+.
type familyFlags struct {
	dora              bool
	init              string
	loraplusRatio     float64
	loraplusEmbedding float64
}

func (f *familyFlags) register(fs interface {
	Float64Var(*float64, string, float64, string)
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.BoolVar(&f.dora, "use-dora", f.dora, "DoRA: a trainable magnitude per output over the normalised W + s·B·A (use_dora)")
	fs.StringVar(&f.init, "init-lora-weights", f.init, `init_lora_weights: true, false, gaussian, pissa, pissa_niter_<n> or olora (PiSSA/OLoRA rewrite the base to a residual; the final adapter is saved converted to a plain LoRA of the original base)`)
	fs.Float64Var(&f.loraplusRatio, "loraplus-lr-ratio", f.loraplusRatio, "LoRA+: lora_B and 1-D parameters learn at this multiple of --learning-rate (0: off; the paper suggests 16)")
	fs.Float64Var(&f.loraplusEmbedding, "loraplus-lr-embedding", f.loraplusEmbedding, "LoRA+: learning rate of LoRA embedding factors")
}

func defaultFamilyFlags() familyFlags {
	return familyFlags{init: "true", loraplusEmbedding: lora.DefaultLREmbedding}
}

// apply sets the LoraConfig fields of f.
func (f *familyFlags) apply(c *lora.Config) {
	c.UseDoRA = f.dora
	switch f.init {
	case "", "true", "True":
		c.InitLoraWeights = lora.InitDefault
	case "false", "False":
		c.InitLoraWeights = lora.InitRandom
	default:
		c.InitLoraWeights = lora.Init(f.init)
	}
}

// loraPlus returns the LoRA+ groups, or nil when the ratio is 0.
func (f *familyFlags) loraPlus() *lora.LoraPlus {
	if f.loraplusRatio == 0 {
		return nil
	}
	return &lora.LoraPlus{LRRatio: f.loraplusRatio, LREmbedding: f.loraplusEmbedding}
}

// checkMethod refuses family flags the method cannot use, as usage errors.
func (f *familyFlags) checkMethod(method string) error {
	if lp := f.loraPlus(); lp != nil {
		if err := lp.Validate(); err != nil {
			return usagef("%v", err)
		}
	}
	switch {
	case method == "full" && (f.dora || f.loraplusRatio != 0 || (f.init != "" && f.init != "true")):
		return usagef("--use-dora, --init-lora-weights and --loraplus-lr-ratio need --method lora (or adalora for LoRA+)")
	case method == "adalora" && f.dora:
		return usagef("AdaLoRA does not support DoRA (--use-dora)")
	case method == "adalora" && f.init != "" && f.init != "true" && f.init != "false":
		return usagef("AdaLoRA initialises its own factors: --init-lora-weights takes only true or false with --method adalora")
	}
	return nil
}

// adaloraFlags are AdaLoraConfig's fields beyond LoraConfig's.
type adaloraFlags struct {
	initR, targetR, tinit, tfinal, deltaT, totalStep int
	beta1, beta2, orthRegWeight                      float64
}

func defaultAdaloraFlags() adaloraFlags {
	c := adalora.DefaultConfig()
	return adaloraFlags{initR: c.InitR, targetR: c.TargetR, tinit: c.Tinit, tfinal: c.Tfinal, deltaT: c.DeltaT,
		beta1: c.Beta1, beta2: c.Beta2, orthRegWeight: c.OrthRegWeight}
}

func (f *adaloraFlags) register(fs interface {
	IntVar(*int, string, int, string)
	Float64Var(*float64, string, float64, string)
}) {
	fs.IntVar(&f.initR, "init-r", f.initR, "AdaLoRA: starting rank of every adapted matrix (init_r)")
	fs.IntVar(&f.targetR, "target-r", f.targetR, "AdaLoRA: average final rank (target_r)")
	fs.IntVar(&f.tinit, "tinit", f.tinit, "AdaLoRA: warm-up steps before the ranks are pruned")
	fs.IntVar(&f.tfinal, "tfinal", f.tfinal, "AdaLoRA: final steps with the allocation fixed")
	fs.IntVar(&f.deltaT, "delta-t", f.deltaT, "AdaLoRA: steps between two allocations (deltaT)")
	fs.Float64Var(&f.beta1, "beta1", f.beta1, "AdaLoRA: EMA of the sensitivity")
	fs.Float64Var(&f.beta2, "beta2", f.beta2, "AdaLoRA: EMA of the uncertainty")
	fs.Float64Var(&f.orthRegWeight, "orth-reg-weight", f.orthRegWeight, "AdaLoRA: weight of the orthogonal regulariser")
	fs.IntVar(&f.totalStep, "total-step", f.totalStep, "AdaLoRA: total_step of the budget schedule (0: the run's optimizer steps)")
}

// config is the AdaLoraConfig over base's LoRA fields, with total_step
// defaulting to the run's steps. Errors are usage errors.
func (f *adaloraFlags) config(base lora.Config, runSteps int) (adalora.Config, error) {
	c := adalora.DefaultConfig()
	pt := c.PeftType
	c.Config = base
	c.PeftType = pt
	c.InitR, c.TargetR, c.Tinit, c.Tfinal, c.DeltaT = f.initR, f.targetR, f.tinit, f.tfinal, f.deltaT
	c.Beta1, c.Beta2, c.OrthRegWeight = f.beta1, f.beta2, f.orthRegWeight
	c.TotalStep = f.totalStep
	if c.TotalStep == 0 {
		c.TotalStep = runSteps
	}
	if err := c.Validate(); err != nil {
		return c, usagef("%v", err)
	}
	return c, nil
}

// injectAdaLoRA sets r up for --method adalora on m.
func (r *trainingRun) injectAdaLoRA(m models.Model, lf *loraFlags, seed uint64) error {
	base, err := lf.config(m)
	if err != nil {
		return err
	}
	cfg, err := lf.adalora.config(base, lf.adaloraTotal)
	if err != nil {
		return err
	}
	if r.adalora, err = adalora.Inject(m, cfg, seed); err != nil {
		return err
	}
	r.loraPlus = lf.family.loraPlus()
	return nil
}

// saveFinal writes the run's result: as save, except that a LoRA adapter
// initialised with PiSSA or OLoRA, which only fits the residual base it
// trained on, is converted into the equivalent plain LoRA of the original
// base (PEFT's path_initial_model_for_weight_conversion), so that eval,
// predict, merge and PEFT use it on the unmodified model.
func (r *trainingRun) saveFinal(dir string) error {
	if r.lora != nil {
		cfg, _ := r.lora.Config(lora.DefaultAdapterName)
		if cfg.InitLoraWeights.MutatesBase() {
			if cfg.UseDoRA {
				fmt.Fprintf(r.logw(), "train: note: a DoRA adapter cannot be converted to plain LoRA; %s holds it as trained, which fits a base initialised with %q again\n", dir, cfg.InitLoraWeights)
				return r.save(dir)
			}
			if err := r.lora.SaveAdapterConverted(dir, lora.DefaultAdapterName, ""); err != nil {
				return err
			}
			fmt.Fprintf(r.logw(), "train: %s adapter saved converted to a rank-%d LoRA of the original base\n", cfg.InitLoraWeights, 2*cfg.R)
			if c, ok := r.model.(models.Classifier); ok {
				return writeLabels(dir, c.Labels())
			}
			return nil
		}
	}
	return r.save(dir)
}

// logw is where the run's notes go.
func (r *trainingRun) logw() io.Writer {
	if r.stderr == nil || r.args.Quiet {
		return io.Discard
	}
	return r.stderr
}
