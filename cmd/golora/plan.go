package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/models"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/plan"
	"github.com/golora/golora/tensor"
)

func init() {
	commands["plan"] = command{summary: "predict memory per category, FLOPs and step time of a training step", run: runPlan}
}

// planFlags are the model and method flags shared by plan and bench train.
type planFlags struct {
	model, preset  *string
	r              *int
	alpha, dropout *float64
	dora           *bool
	targets, save  *string
	base           baseFlags
	checkpoint     *bool
	threads        *int
	world, stage   *int
	accum          *int
	// ada are train's AdaLoRA flags (--init-r, --target-r, ...); runSteps
	// is the optimizer steps the command runs, AdaLoRA's total_step when
	// --total-step is 0 (plan runs none: then the shortest schedule
	// tinit + tfinal + 1, which the prediction does not depend on).
	ada      *adaloraFlags
	runSteps int
	// length are train's --max-seq-length and --block-size (a sequence
	// model's tokens per example, by train's rules); lengthSet lists those
	// given on the command line.
	length    *textFlags
	lengthSet func() []string
}

func addPlanFlags(fs interface {
	String(name, value, usage string) *string
	Int(name string, value int, usage string) *int
	Float64(name string, value float64, usage string) *float64
	Bool(name string, value bool, usage string) *bool
	IntVar(p *int, name string, value int, usage string)
	Float64Var(p *float64, name string, value float64, usage string)
	Visit(fn func(*flag.Flag))
}) planFlags {
	ada := defaultAdaloraFlags()
	ada.register(fs)
	var length textFlags
	length.registerLength(fs)
	lengthSet := func() []string {
		var set []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "max-seq-length" || f.Name == "block-size" {
				set = append(set, "--"+f.Name)
			}
		})
		return set
	}
	return planFlags{
		ada:        &ada,
		length:     &length,
		lengthSet:  lengthSet,
		model:      fs.String("model", "", "model directory (its config.json is read)"),
		preset:     fs.String("preset", "", "preset model: "+strings.Join(models.PresetNames(), ", ")),
		r:          fs.Int("r", 16, "LoRA rank"),
		alpha:      fs.Float64("lora-alpha", 16, "LoRA alpha"),
		dropout:    fs.Float64("lora-dropout", 0, "LoRA dropout"),
		dora:       fs.Bool("use-dora", false, "DoRA (use_dora): the magnitude vector, the detached norm and their buffers"),
		targets:    fs.String("target-modules", "", "LoRA target modules, comma-separated (default: PEFT's for the model type, e.g. query,value)"),
		save:       fs.String("modules-to-save", "", "modules trained in full beside LoRA, comma-separated (default: a classification head)"),
		base:       addBaseFlags(fs),
		checkpoint: fs.Bool("gradient-checkpointing", false, "recompute each block's forward in the backward"),
		threads:    fs.Int("threads", 0, "kernel threads (0: all cores)"),
		world:      fs.Int("world-size", 1, "data-parallel ranks (mpirun -np): the figures are one rank's"),
		stage:      fs.Int("zero-stage", 0, "ZeRO stage with several ranks: 0, 1 (shard optimizer state) or 2 (and gradients)"),
		accum:      fs.Int("gradient-accumulation-steps", 1, "micro-batches per optimizer step (ZeRO-2 reduces after each)"),
	}
}

// parallel checks and returns the data-parallel flags.
func (f planFlags) parallel() (plan.Parallel, error) {
	p := plan.Parallel{WorldSize: *f.world, ZeroStage: *f.stage, GradientAccumulationSteps: *f.accum}
	switch {
	case p.WorldSize < 1:
		return p, usagef("--world-size %d: want >= 1", p.WorldSize)
	case p.ZeroStage < 0 || p.ZeroStage > 2:
		return p, usagef("--zero-stage %d: want 0, 1 or 2", p.ZeroStage)
	case p.GradientAccumulationSteps < 1:
		return p, usagef("--gradient-accumulation-steps %d: want >= 1", p.GradientAccumulationSteps)
	}
	return p, nil
}

// source resolves --model or --preset (exactly one) to the base model's
// Source and a description; a bad model directory is a run error, a bad
// flag combination a usage error.
func (f planFlags) source() (plan.Source, string, error) {
	switch {
	case *f.model != "" && *f.preset != "":
		return nil, "", usagef("give --model or --preset, not both")
	case *f.preset != "":
		src, err := plan.FromPreset(*f.preset)
		if err != nil {
			return nil, "", usagef("%v", err)
		}
		return src, *f.preset, nil
	case *f.model != "":
		src, err := plan.FromConfigFile(*f.model)
		if err != nil {
			return nil, "", fmt.Errorf("model %s: %w", *f.model, err)
		}
		return src, *f.model, nil
	}
	return nil, "", usagef("missing --model DIR or --preset NAME")
}

// setup makes the Setup of one method ("full", "lora" or "adalora") with
// the flags' LoRA (and AdaLoRA) settings, dtype and checkpointing.
func (f planFlags) setup(src plan.Source, method string) (plan.Setup, error) {
	s := plan.Setup{Base: src, Method: method, GradientCheckpointing: *f.checkpoint}
	par, err := f.parallel()
	if err != nil {
		return s, err
	}
	s.Parallel = par
	st, err := f.base.storage()
	if err != nil {
		return s, err
	}
	s.BaseDType, s.DoubleQuant = st.DType, st.DoubleQuant
	if !slices.Contains(plan.Methods, method) {
		return s, usagef("--method %q: want %s", method, strings.Join(plan.Methods, ", "))
	}
	if method == "full" && st.DType != tensor.F32 {
		return s, fullNeedsF32("plan", st)
	}
	base, err := src(false, 1)
	if err != nil {
		return s, err
	}
	if s.SeqLen, err = f.seqLen(base); err != nil {
		return s, err
	}
	l := plan.DefaultLoRA(base)
	l.R, l.LoraAlpha, l.LoraDropout, l.UseDoRA = *f.r, *f.alpha, *f.dropout, *f.dora
	if *f.targets != "" {
		l.TargetModules = lora.TargetList(splitList(*f.targets)...)
	}
	if *f.save != "" {
		l.ModulesToSave = splitList(*f.save)
	}
	if method != "full" && (l.LoraDropout < 0 || l.LoraDropout >= 1) {
		return s, usagef("--lora-dropout %v outside [0, 1)", l.LoraDropout)
	}
	switch method {
	case "lora":
		if err := l.Validate(); err != nil {
			return s, usagef("%v", err)
		}
	case "adalora":
		steps := f.runSteps
		if steps <= 0 {
			steps = f.ada.tinit + f.ada.tfinal + 1
		}
		if s.AdaLoRA, err = f.ada.config(l, steps); err != nil {
			return s, err
		}
		if s.Parallel.WorldSize > 1 && s.Parallel.ZeroStage > 0 {
			return s, usagef("--method adalora: the rank allocator and regulariser work on the whole gradient, which --zero-stage %d shards over the ranks: use --zero-stage 0", s.Parallel.ZeroStage)
		}
	}
	s.LoRA = l
	return s, nil
}

// seqLen is the tokens per example to plan model m at, by train's rules:
// a causal LM's --block-size (default min(1024, max_position_embeddings)),
// a classifier's --max-seq-length (default 128, at most
// max_position_embeddings); 0 for a model that reads no sequences, which
// refuses the flags, as a model refuses the other kind's flag.
func (f planFlags) seqLen(m models.Model) (int, error) {
	spec, set := m.Spec(), f.lengthSet()
	if _, ok := m.(models.SeqLener); !ok || !spec.Text() {
		if len(set) > 0 {
			return 0, usagef("%s: this %s model reads images, not token sequences", strings.Join(set, ", "), m.ModelType())
		}
		return 0, nil
	}
	if err := f.length.checkLength("plan"); err != nil {
		return 0, err
	}
	if spec.PerToken {
		if slices.Contains(set, "--max-seq-length") {
			return 0, usagef("--max-seq-length is for classifiers; this %s model is a causal LM: use --block-size", m.ModelType())
		}
		return f.length.blockLen(spec.SeqLen)
	}
	if slices.Contains(set, "--block-size") {
		return 0, usagef("--block-size is for causal LMs; this %s model is a classifier: use --max-seq-length", m.ModelType())
	}
	return f.length.classLen(spec.SeqLen), nil
}

// compareMethods are the setups plan and bench train compare, by name:
// full fine-tuning, LoRA over a base stored in each dtype, LoRA with
// gradient checkpointing, and AdaLoRA. The flags' LoRA (and AdaLoRA)
// settings apply to all; their dtype and checkpointing flags do not.
var compareMethods = []string{"full", "lora", "lora-bf16", "lora-fp16", "lora-int8", "lora-nf4", "lora-nf4-dq", "lora-ckpt", "adalora"}

// defaultCompare is what --compare and bench train run by default.
const defaultCompare = "full,lora,lora-bf16,lora-ckpt"

// compareSetups makes the setups of a comma-separated list of
// compareMethods names.
func (f planFlags) compareSetups(src plan.Source, list string) ([]string, []plan.Setup, error) {
	ls, err := f.setup(src, "lora") // the flags' LoRA settings, checked
	if err != nil {
		return nil, nil, err
	}
	var names []string
	var out []plan.Setup
	for _, n := range splitList(list) {
		if !slices.Contains(compareMethods, n) {
			return nil, nil, usagef("unknown method %q (have %s)", n, strings.Join(compareMethods, ", "))
		}
		s := ls // the flags' LoRA settings and data parallelism
		switch n {
		case "full":
			s.Method = "full"
		case "adalora":
			if s, err = f.setup(ls.Base, "adalora"); err != nil {
				return nil, nil, err
			}
		}
		s.BaseDType, s.DoubleQuant, s.GradientCheckpointing = tensor.F32, false, n == "lora-ckpt"
		if dt, ok := strings.CutPrefix(n, "lora-"); ok && dt != "ckpt" {
			dt, dq := strings.CutSuffix(dt, "-dq")
			if s.BaseDType, err = tensor.ParseDType(dt); err != nil {
				return nil, nil, err
			}
			s.DoubleQuant = dq
		}
		names, out = append(names, n), append(out, s)
	}
	if len(names) == 0 {
		return nil, nil, usagef("no method given")
	}
	return names, out, nil
}

// planResult is one prediction, as --json prints it.
type planResult struct {
	Method    string           `json:"method,omitempty"`
	Bytes     map[string]int64 `json:"bytes"`
	WeightsBy map[string]int64 `json:"weights_by_dtype"`
	// ValuesBy counts the parameter values stored in each dtype, and
	// WeightsXF32 is the weight bytes over what they would take in f32.
	ValuesBy    map[string]int64 `json:"weight_values_by_dtype"`
	WeightsXF32 float64          `json:"weights_x_f32"`
	TotalBytes  int64            `json:"total_bytes"`
	FLOPs       struct {
		Forward    int64 `json:"forward"`
		BackwardDX int64 `json:"backward_dx"`
		BackwardDW int64 `json:"backward_dw"`
	} `json:"flops"`
	StepMS float64 `json:"step_ms"`
	// TokensPerExample is a sequence model's length planned (0: none).
	TokensPerExample int `json:"tokens_per_example,omitempty"`
	// StepMSByKernel splits StepMS by kind of kernel (gemm, gemm-batch,
	// layernorm, gelu, ...).
	StepMSByKernel map[string]float64 `json:"step_ms_by_kernel"`
	MaxBatch       *int               `json:"max_batch,omitempty"`
	// With data parallelism: the bytes above are rank 0's (the largest
	// share), and what it sends per optimizer step.
	WorldSize int                           `json:"world_size,omitempty"`
	ZeroStage int                           `json:"zero_stage,omitempty"`
	Sent      int64                         `json:"sent_bytes_per_step,omitempty"`
	Comm      map[string]collective.Traffic `json:"collectives_per_step,omitempty"`
}

func predict(name string, s plan.Setup, batch int, budget int64) (planResult, error) {
	m, err := plan.Build(s, false, 1)
	if err != nil {
		return planResult{}, err
	}
	e := m.Estimate(batch)
	r := planResult{Method: name, Bytes: e.Bytes.Map(), TotalBytes: e.TotalBytes(), TokensPerExample: m.Base.Spec().SeqLen}
	r.WeightsBy, r.ValuesBy = e.Bytes.WeightsByDType(), e.Values.WeightsByDType()
	r.WeightsXF32 = float64(e.Bytes.Weights()) / float64(4*e.Values.Weights())
	r.FLOPs.Forward, r.FLOPs.BackwardDX, r.FLOPs.BackwardDW = e.Forward, e.BackwardDX, e.BackwardDW
	speed := plan.Calibrate(e)
	r.StepMS, r.StepMSByKernel = speed.StepMS(e), map[string]float64{}
	for k, ms := range speed.ByKernel(e) {
		r.StepMSByKernel[k.String()] = ms
	}
	if e.World > 1 {
		r.WorldSize, r.ZeroStage, r.Sent, r.Comm = e.World, s.Parallel.ZeroStage, e.Comm.Total().Sent, e.Comm.Map()
	}
	if budget > 0 {
		mb := m.MaxBatch(budget)
		r.MaxBatch = &mb
	}
	return r, nil
}

func runPlan(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plan", "--model DIR|--preset NAME --method full|lora|adalora [--r --lora-alpha --target-modules ...] [--init-r --target-r ...] --batch N [--base-dtype f32|bf16|fp16|int8|nf4 [--double-quant]] [--gradient-checkpointing] [--max-seq-length N | --block-size N] [--world-size N --zero-stage 0|1|2] [--budget 2GiB] [--compare | --methods lora,lora-nf4,...] [--json]", stderr)
	pf := addPlanFlags(fs)
	method := fs.String("method", "lora", "full, lora or adalora (PEFT's AdaLoraConfig: --init-r, --target-r, ...)")
	batch := fs.Int("batch", 8, "batch size")
	budgetFlag := fs.String("budget", "", "memory budget (e.g. 2GiB, 512MiB): report the largest batch that fits")
	compare := fs.Bool("compare", false, "predict "+defaultCompare+" side by side")
	methods := fs.String("methods", "", "predict these side by side (implies --compare): "+strings.Join(compareMethods, ", "))
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("plan: unexpected argument %q", fs.Arg(0))
	}
	if *batch <= 0 {
		return usagef("plan: --batch must be positive, got %d", *batch)
	}
	if *pf.threads < 0 {
		return usagef("plan: --threads must be >= 0, got %d", *pf.threads)
	}
	var budget int64
	if *budgetFlag != "" {
		b, err := sizecheck.ParseBytes(*budgetFlag)
		if err != nil {
			return usagef("plan: --budget: %v", err)
		}
		budget = b
	}
	src, what, err := pf.source()
	if err != nil {
		return err
	}
	names, setups := []string{*method}, []plan.Setup(nil)
	if *methods != "" {
		*compare = true
	}
	if *compare {
		list := *methods
		if list == "" {
			list = defaultCompare
		}
		if names, setups, err = pf.compareSetups(src, list); err != nil {
			return err
		}
	} else {
		s, err := pf.setup(src, *method)
		if err != nil {
			return err
		}
		setups = []plan.Setup{s}
	}
	if *pf.threads > 0 {
		defer kernels.SetThreads(kernels.SetThreads(*pf.threads))
	}
	var results []planResult
	for i, s := range setups {
		r, err := predict(names[i], s, *batch, budget)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if *compare {
			return enc.Encode(map[string]any{"results": results})
		}
		results[0].Method = ""
		return enc.Encode(results[0])
	}
	fmt.Fprintf(stdout, "plan: %s, batch %d%s, %d kernel threads\n", what, *batch, tokensPerExample(results[0].TokensPerExample), kernels.Threads())
	if w := results[0].WorldSize; w > 1 {
		fmt.Fprintf(stdout, "%d data-parallel ranks, ZeRO stage %d, %d micro-batches a step: rank 0's bytes; sent = what each rank sends per optimizer step (ring algorithms)\n",
			w, results[0].ZeroStage, *pf.accum)
	}
	fmt.Fprintln(stdout)
	printPlanTable(stdout, results)
	return nil
}

func printPlanTable(w io.Writer, rs []planResult) {
	t := columns[planResult]{w: w, label: 14, width: 14, items: rs}
	t.header(func(r planResult) string { return r.Method })
	row := t.row
	row("weights", func(r planResult) string { return humanBytes(r.Bytes["weights"]) })
	for _, dt := range dtypesIn(rs, func(r planResult) map[string]int64 { return r.WeightsBy }) {
		row("  "+strings.ToLower(dt), func(r planResult) string { return humanBytes(r.WeightsBy[dt]) })
	}
	row("weights x f32", func(r planResult) string { return fmt.Sprintf("%.3f", r.WeightsXF32) })
	for _, c := range []string{"gradients", "optimizer", "activations", "workspace", "data"} {
		row(c, func(r planResult) string { return humanBytes(r.Bytes[c]) })
	}
	row("total", func(r planResult) string { return humanBytes(r.TotalBytes) })
	row("GFLOP fwd", func(r planResult) string { return fmt.Sprintf("%.2f", float64(r.FLOPs.Forward)/1e9) })
	row("GFLOP bwd dX", func(r planResult) string { return fmt.Sprintf("%.2f", float64(r.FLOPs.BackwardDX)/1e9) })
	row("GFLOP bwd dW", func(r planResult) string { return fmt.Sprintf("%.2f", float64(r.FLOPs.BackwardDW)/1e9) })
	row("step ms", func(r planResult) string { return fmt.Sprintf("%.1f", r.StepMS) })
	if rs[0].WorldSize > 1 {
		row("sent/step", func(r planResult) string { return humanBytes(r.Sent) })
		row("x full sent", func(r planResult) string {
			if rs[0].Method != "full" || rs[0].Sent == 0 {
				return "-"
			}
			return fmt.Sprintf("%.4f", float64(r.Sent)/float64(rs[0].Sent))
		})
	}
	if rs[0].MaxBatch != nil {
		row("max batch", func(r planResult) string { return strconv.Itoa(*r.MaxBatch) })
	}
}

// dtypesIn lists the weight dtypes that any of rs has bytes in, in
// tensor.DTypes order.
func dtypesIn[T any](rs []T, by func(T) map[string]int64) []string {
	var out []string
	for _, dt := range tensor.DTypes {
		for _, r := range rs {
			if by(r)[dt.String()] != 0 {
				out = append(out, dt.String())
				break
			}
		}
	}
	return out
}

// tokensPerExample is ", N tokens per example" for a sequence model's
// length, "" for none.
func tokensPerExample(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d tokens per example", n)
}
