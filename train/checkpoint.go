package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// Files of a checkpoint directory (checkpoint-<step>/), beside what the
// model's own Save hook writes there (a PEFT adapter or full weights).
const (
	StateFile     = "trainer_state.json"    // step, data position, schedule, log history
	ParamsFile    = "trainable.safetensors" // exact trainable values, by parameter name
	OptimizerFile = "optimizer.safetensors" // optimizer moments, by parameter name
	checkpointPfx = "checkpoint-"
)

// State is trainer_state.json: everything besides tensors that a resumed
// run needs to continue exactly where the saved one was.
type State struct {
	GlobalStep int     `json:"global_step"`
	MaxSteps   int     `json:"max_steps"`
	Epoch      float64 `json:"epoch"` // fractional, as HF logs it

	// Data order: the next micro-batch starts at Position of the
	// permutation of DataEpoch drawn from Seed.
	Seed      uint64 `json:"seed"`
	DataEpoch int    `json:"data_epoch"`
	Position  int    `json:"data_position"`
	TrainLen  int    `json:"train_examples"`

	// The learning-rate schedule is a pure function of the step; these
	// fields are what defines it.
	LRSchedulerType string  `json:"lr_scheduler_type"`
	LearningRate    float64 `json:"learning_rate"`
	WarmupSteps     int     `json:"warmup_steps"`

	BatchSize                 int `json:"per_device_train_batch_size"`
	GradientAccumulationSteps int `json:"gradient_accumulation_steps"`
	// WorldSize is the number of data-parallel ranks (0 in files written
	// before it existed: one); ZeroStage their sharding. Position counts
	// the examples of all ranks.
	WorldSize int `json:"world_size,omitempty"`
	ZeroStage int `json:"zero_stage,omitempty"`
	Threads   int `json:"threads"`

	Optim string `json:"optim"`

	// The training losses since the last log line, which the next line
	// averages.
	LogLossSum   float64 `json:"log_loss_sum"`
	LogLossCount int     `json:"log_loss_count"`

	LogHistory []Record `json:"log_history"`
}

// World is the number of ranks the state was written with (at least 1).
func (s *State) World() int { return max(s.WorldSize, 1) }

// CheckpointDir is the directory of the checkpoint at step.
func CheckpointDir(outputDir string, step int) string {
	return filepath.Join(outputDir, checkpointPfx+strconv.Itoa(step))
}

// LatestCheckpoint returns the checkpoint with the highest step in
// outputDir, or "" if there is none. Temporary directories of interrupted
// saves are ignored.
func LatestCheckpoint(outputDir string) (string, error) {
	ents, err := os.ReadDir(outputDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("train: %w", err)
	}
	best, bestStep := "", -1
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name(), checkpointPfx)
		if !ok || !e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			continue
		}
		if _, err := os.Stat(filepath.Join(outputDir, e.Name(), StateFile)); err != nil {
			continue
		}
		if n > bestStep {
			best, bestStep = filepath.Join(outputDir, e.Name()), n
		}
	}
	return best, nil
}

// writeCheckpointDir builds a checkpoint in a temporary directory beside
// dst with fill, syncs it, and renames it to dst in one step: a crash or
// an error leaves either the old dst (if any) or the new one, never a
// half-written directory.
func writeCheckpointDir(dst string, fill func(tmp string) error) (err error) {
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+".tmp")
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := fill(tmp); err != nil {
		return err
	}
	if err := syncTree(tmp); err != nil {
		return err
	}
	// A directory cannot be renamed over a non-empty one: move the old
	// one aside first and delete it only once the new one is in place.
	var old string
	if _, err := os.Stat(dst); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dst, old); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		if old != "" {
			os.Rename(old, dst)
		}
		return fmt.Errorf("train: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return err
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}

// syncTree fsyncs every file of dir and dir itself: hooks may write files
// without syncing them.
func syncTree(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			if err := syncTree(p); err != nil {
				return err
			}
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("train: syncing %s: %w", p, err)
		}
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer d.Close()
	// Some file systems cannot sync a directory; ignore only that.
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) && !strings.Contains(err.Error(), "invalid argument") {
		return fmt.Errorf("train: syncing %s: %w", dir, err)
	}
	return nil
}

// writeState writes trainer_state.json into dir.
func writeState(dir string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("train: encoding %s: %w", StateFile, err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, StateFile), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}, 0o644)
}

// ReadState reads trainer_state.json from checkpoint dir.
func ReadState(dir string) (*State, error) {
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	if st.GlobalStep < 0 || st.DataEpoch < 0 || st.Position < 0 {
		return nil, fmt.Errorf("train: %s: negative step or data position", path)
	}
	return &st, nil
}

// saveParams writes the values of ps, by name, to path (f32, exact bits).
func saveParams(path string, ps []*nn.Param) error {
	m := make(map[string]*tensor.Tensor, len(ps))
	for _, p := range ps {
		m[p.Name] = p.Value
	}
	return safetensors.Save(path, m, nil)
}

// loadParams copies the tensors of path into ps by name; every parameter
// must be present with its shape.
func loadParams(path string, ps []*nn.Param) error {
	f, err := safetensors.Load(path)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	want := map[string]bool{}
	vals := make([]*tensor.Tensor, len(ps))
	for i, p := range ps {
		want[p.Name] = true
		t, err := f.Tensor(p.Name)
		if err != nil {
			return fmt.Errorf("train: %s: the checkpoint does not fit this model: %w", path, err)
		}
		if !tensor.SameShape(t.Shape(), p.Value.Shape()) || t.DType() != tensor.F32 {
			return fmt.Errorf("train: %s: %s is %v %v, the model has %v %v", path, p.Name, t.DType(), t.Shape(), p.Value.DType(), p.Value.Shape())
		}
		vals[i] = t
	}
	var extra []string
	for _, n := range f.Names() {
		if !want[n] {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("train: %s: holds %q, which the model does not train", path, extra[0])
	}
	for i, p := range ps { // all checked: now change the model
		copy(p.Value.F32(), vals[i].F32())
	}
	return nil
}
