package train

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/golora/golora/internal/atomicfile"
)

// MetricsFile is the name of the JSON-lines log in the output directory.
const MetricsFile = "metrics.jsonl"

// Record is one line of metrics.jsonl: a training log line (Loss set) or
// an evaluation (EvalLoss set), with HF's log_history field names.
type Record struct {
	Step           int      `json:"step"`
	Epoch          float64  `json:"epoch"`
	Loss           *float64 `json:"loss,omitempty"`
	LearningRate   *float64 `json:"learning_rate,omitempty"`
	GradNorm       *float64 `json:"grad_norm,omitempty"`
	EvalLoss       *float64 `json:"eval_loss,omitempty"`
	EvalAccuracy   *float64 `json:"eval_accuracy,omitempty"`
	ExamplesPerSec *float64 `json:"examples_per_second,omitempty"`
}

func ptr(v float64) *float64 { return &v }

// writeMetrics rewrites dir/metrics.jsonl with history. Rewriting (rather
// than appending) keeps the file equal to the run's history after a resume
// from an earlier checkpoint; it is written atomically.
func writeMetrics(dir string, history []Record) error {
	path := filepath.Join(dir, MetricsFile)
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, r := range history {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}, 0o644)
}

// ReadMetrics reads a metrics.jsonl file.
func ReadMetrics(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	var out []Record
	dec := json.NewDecoder(f)
	for dec.More() {
		var r Record
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("train: %s: record %d: %w", path, len(out)+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
