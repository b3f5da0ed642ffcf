package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/golora/golora/models"
	"github.com/golora/golora/peft"
	"github.com/golora/golora/tensor"
)

func init() {
	commands["inspect"] = command{summary: "show a model directory's config and parameter counts", run: runInspect}
}

// inspectOptions are the parsed arguments of "golora inspect".
type inspectOptions struct {
	dir     string
	adapter string
	json    bool
}

// inspectReport is what "golora inspect" prints, as text or JSON. Sections
// are separate fields so that later ones (an adapter's) can be added
// without touching the others.
type inspectReport struct {
	Dir          string              `json:"dir,omitempty"`
	Architecture string              `json:"architecture,omitempty"`
	ModelType    string              `json:"model_type,omitempty"`
	Config       map[string]any      `json:"config,omitempty"`
	Parameters   *models.ParamCounts `json:"parameters,omitempty"`
	Adapter      *adapterReport      `json:"adapter,omitempty"`

	lines []models.Line // the model's description, for the text form
	kinds []string      // its parameter kinds, in print order
}

func runInspect(args []string, stdout, stderr io.Writer) error {
	opts, err := parseInspect(args, stderr)
	if err != nil {
		return err
	}
	rep, err := inspect(opts)
	if err != nil {
		return err
	}
	if opts.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.writeText(stdout)
	return nil
}

// parseInspect accepts flags before or after MODEL_DIR.
func parseInspect(args []string, stderr io.Writer) (inspectOptions, error) {
	var opts inspectOptions
	fs := newFlagSet("inspect", "[MODEL_DIR] [--adapter DIR] [--json]", stderr)
	fs.BoolVar(&opts.json, "json", false, "print the report as JSON")
	fs.StringVar(&opts.adapter, "adapter", "", "a PEFT adapter directory to describe (with MODEL_DIR: loaded onto the model)")
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return opts, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) > 1 || len(pos) == 0 && opts.adapter == "" {
		return opts, usagef("inspect: want one MODEL_DIR and/or --adapter DIR, got %d arguments (usage: golora inspect [MODEL_DIR] [--adapter DIR] [--json])", len(pos))
	}
	if len(pos) == 1 {
		opts.dir = pos[0]
		// An adapter directory given as MODEL_DIR (no config.json beside
		// its adapter_config.json) is described as --adapter would be.
		if opts.adapter == "" && isFile(filepath.Join(opts.dir, peft.ConfigName)) && !isFile(filepath.Join(opts.dir, "config.json")) {
			opts.dir, opts.adapter = "", opts.dir
		}
	}
	return opts, nil
}

// inspect loads the model (checking every tensor) and/or the adapter and
// builds the report.
func inspect(opts inspectOptions) (*inspectReport, error) {
	if opts.dir == "" {
		a, err := inspectAdapter(opts.adapter, nil)
		if err != nil {
			return nil, err
		}
		return &inspectReport{Adapter: a}, nil
	}
	m, err := models.Load(opts.dir, models.LoadOptions{})
	if err != nil {
		return nil, err
	}
	counts := models.CountParams(m)
	rep := &inspectReport{Dir: opts.dir, ModelType: m.ModelType(), Parameters: &counts, Architecture: m.String()}
	if d, ok := m.(models.Describer); ok {
		desc := d.Describe()
		rep.Architecture, rep.Config, rep.lines, rep.kinds = desc.Architecture, desc.Config, desc.Lines, desc.Kinds
	}
	if opts.adapter != "" {
		if rep.Adapter, err = inspectAdapter(opts.adapter, m); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func (r *inspectReport) writeText(w io.Writer) {
	if r.Parameters == nil {
		r.Adapter.writeText(w)
		return
	}
	defer r.Adapter.writeText(w)
	p := r.Parameters
	fmt.Fprintf(w, "%-13s %s\n", "model", r.Dir)
	fmt.Fprintf(w, "%-13s %s (model_type %s)\n", "architecture", r.Architecture, r.ModelType)
	for _, l := range r.lines {
		fmt.Fprintf(w, "%-13s %s\n", l.Label, l.Text)
	}
	var bytes []string
	for _, dt := range tensor.DTypes {
		if b := p.Bytes[dt.String()]; b > 0 {
			bytes = append(bytes, fmt.Sprintf("%s %s", dt, humanBytes(b)))
		}
	}
	fmt.Fprintf(w, "%-13s %s (%s)\n", "parameters", thousands(p.Total), strings.Join(bytes, ", "))
	for _, k := range append(r.kinds, "other") {
		n := p.ByKind[k]
		if n == 0 && k == "other" {
			continue
		}
		fmt.Fprintf(w, "  %-11s %12s  %5.1f%%\n", k, thousands(n), 100*float64(n)/float64(p.Total))
	}
}

// thousands formats n with comma separators (1,234,567).
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// humanBytes formats a byte count in KiB, MiB or GiB.
func humanBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// isFile reports whether path names an existing regular file.
func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
