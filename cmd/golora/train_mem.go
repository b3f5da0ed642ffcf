package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/plan"
)

// peakRSS returns the process's peak resident set size in bytes since the
// last resetPeakRSS, or 0 where /proc is not available.
func peakRSS() int64 {
	v, _ := memory.PeakRSS()
	return v
}

// resetPeakRSS starts a measured phase: the peak RSS and the accounted
// peaks per category restart from the current values.
func resetPeakRSS() { memory.ResetPeak() }

// settle lets the garbage collector free earlier buffers (their accounting
// leaves with them) and returns memory to the OS, so the next peak starts
// from a clean state.
func settle() {
	for i := 0; i < 3; i++ {
		runtime.GC()
		time.Sleep(5 * time.Millisecond) // cleanups run on their own goroutine
	}
	debug.FreeOSMemory()
}

// MemoryFile is where train and pretrain write the measured peak memory
// beside the planner's prediction (bytes), in the output directory.
const MemoryFile = "memory.json"

// memoryReport is a training run's measured peak memory beside the
// planner's prediction of one step of the same model, method, batch, base
// dtype and checkpointing.
type memoryReport struct {
	Method                string           `json:"method"`
	Batch                 int              `json:"batch"`
	WorldSize             int              `json:"world_size,omitempty"` // data-parallel ranks; the figures are rank 0's
	ZeroStage             int              `json:"zero_stage,omitempty"`
	PlannedSentPerStep    int64            `json:"planned_sent_bytes_per_step,omitempty"`
	EvalBatch             int              `json:"eval_batch,omitempty"` // evaluated with this batch (0: no evaluation)
	BaseDType             string           `json:"base_dtype"`           // f32, bf16, fp16, int8, nf4 or nf4-dq (double quantisation)
	GradientCheckpointing bool             `json:"gradient_checkpointing"`
	PeakBytes             map[string]int64 `json:"peak_bytes"`
	PeakTotalBytes        int64            `json:"peak_total_bytes"`
	PeakRSSBytes          int64            `json:"peak_rss_bytes"`
	PlannedBytes          map[string]int64 `json:"planned_bytes"`
	PlannedTotalBytes     int64            `json:"planned_total_bytes"`

	peak    memory.Bytes
	planned plan.Estimate
}

// startMeasure counts the model's weights and starts the measured phase:
// what setup allocated and freed is forgotten, what stays live counts.
func (r *trainingRun) startMeasure() {
	settle()
	nn.AccountWeights(r.model)
	memory.ResetPeak()
}

// measure ends the measured phase and predicts a step of batch (the
// micro-batch) with the planner for the model as it trained.
func (r *trainingRun) measure(method string, batch int) memoryReport {
	snap := memory.Take()
	rss, _ := memory.PeakRSS()
	c := r.job()
	pm := &plan.Model{Base: r.model, LoRA: r.lora, AdaLoRA: r.adalora, Parallel: runParallel(c, &r.args)}
	e := pm.EstimateRank(batch, c.Rank())
	dt := "f32"
	if r.base.DType != 0 {
		dt = r.base.String()
	}
	eb := 0
	if r.evalSet != nil {
		eb = r.args.PerDeviceEvalBatchSize
	}
	rep := memoryReport{
		Method: method, Batch: batch, EvalBatch: eb, BaseDType: dt, GradientCheckpointing: r.model.GradientCheckpointing(),
		PeakBytes: snap.Peak.Map(), PeakTotalBytes: snap.Peak.Total(), PeakRSSBytes: rss,
		PlannedBytes: e.Bytes.Map(), PlannedTotalBytes: e.TotalBytes(),
		peak: snap.Peak, planned: e,
	}
	if c.Size() > 1 {
		rep.WorldSize, rep.ZeroStage, rep.PlannedSentPerStep = c.Size(), r.args.ZeroStage, e.Comm.Total().Sent
	}
	return rep
}

// write prints the breakdown to w and, when dir is set, saves the report
// as dir/memory.json.
func (m memoryReport) write(w io.Writer, dir string) error {
	ckpt := ""
	if m.GradientCheckpointing {
		ckpt = ", gradient checkpointing"
	}
	if m.WorldSize > 1 {
		ckpt += fmt.Sprintf("; rank 0 of %d, ZeRO-%d", m.WorldSize, m.ZeroStage)
	}
	fmt.Fprintf(w, "\npeak memory of training and evaluation (%s, batch %d, base %s%s) beside the planner's prediction of one step:\n",
		m.Method, m.Batch, m.BaseDType, ckpt)
	if err := plan.WriteBreakdown(w, m.peak, m.PeakRSSBytes, m.planned); err != nil {
		return err
	}
	if m.WorldSize > 1 {
		fmt.Fprintf(w, "each rank sends %s per optimizer step (planned, ring algorithms)\n", humanBytes(m.PlannedSentPerStep))
	}
	if m.EvalBatch > 0 {
		// The training batch may still be counted while the evaluation's is
		// allocated: the planner predicts a training step alone.
		fmt.Fprintf(w, "(measured peaks may include an evaluation batch of %d examples beside the training batch)\n", m.EvalBatch)
	}
	if dir == "" {
		return nil
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, MemoryFile), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}, 0o644)
}
