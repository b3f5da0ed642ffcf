package plan

import (
	"fmt"
	"io"
	"strings"

	"github.com/golora/golora/memory"
)

// WriteBreakdown writes measured bytes per category (e.g. the peaks of a
// run, memory.Take().Peak) beside the planned ones, with the difference,
// the weights of each dtype present, and the process's peak RSS when
// known (rss > 0).
func WriteBreakdown(w io.Writer, measured memory.Bytes, rss int64, planned Estimate) error {
	if _, err := fmt.Fprintf(w, "%-12s %12s %12s %8s\n", "memory", "measured", "planned", "diff"); err != nil {
		return err
	}
	row := func(name string, m, p int64) {
		d := "-"
		if p != 0 {
			d = fmt.Sprintf("%+.1f%%", 100*float64(m-p)/float64(p))
		}
		fmt.Fprintf(w, "%-12s %12s %12s %8s\n", name, mib(m), mib(p), d)
	}
	row("weights", measured.Weights(), planned.Bytes.Weights())
	for _, c := range memory.WeightCategories {
		if measured[c] != 0 || planned.Bytes[c] != 0 {
			dt, _ := c.DType()
			row("  "+strings.ToLower(dt.String()), measured[c], planned.Bytes[c])
		}
	}
	for _, c := range []memory.Category{memory.Gradients, memory.Optimizer, memory.Activations, memory.Workspace, memory.Data} {
		row(c.String(), measured[c], planned.Bytes[c])
	}
	row("total", measured.Total(), planned.TotalBytes())
	if rss > 0 {
		_, err := fmt.Fprintf(w, "%-12s %12s\n", "peak RSS", mib(rss))
		return err
	}
	return nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
