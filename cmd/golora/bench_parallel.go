package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/plan"
)

// parallelResult is what a data-parallel bench adds to a method's result.
type parallelResult struct {
	WorldSize     int              `json:"world_size"`
	ZeroStage     int              `json:"zero_stage"`
	InProcess     bool             `json:"in_process"` // ranks are goroutines of one process: bytes are summed over them
	SentPerStep   int64            `json:"sent_bytes_per_step"`
	CallsPerStep  int64            `json:"collective_calls_per_step"`
	PlannedSent   int64            `json:"planned_sent_bytes_per_step"`
	PerRankStepMS []float64        `json:"per_rank_step_ms"`
	CommMS        float64          `json:"comm_ms_per_step"` // rank 0's time in collectives, waiting included
	Traffic       collective.ByOp  `json:"-"`
	Planned       map[string]int64 `json:"-"`
}

// benchParallel times data-parallel training steps of s (s.Parallel set)
// with batch examples per rank: on comm's ranks (mpirun), or, with comm
// nil, on an in-process group of s.Parallel.WorldSize goroutines. Memory is
// rank 0's (one process per rank) or the process's, summed over its ranks
// (in-process), beside the planner's figures for the same ranks; bytes
// sent per step are counted on rank 0 and planned by zero's layout.
func benchParallel(name string, s plan.Setup, batch, warmup, steps int, comm collective.Comm) (trainResult, error) {
	r := trainResult{Method: name}
	world := s.Parallel.WorldSize
	inProcess := comm == nil
	var (
		times   = make([][]float64, world)
		traffic collective.ByOp
		planned memory.Bytes
		sent    int64
		busy    time.Duration
		snap    memory.Snapshot
		rss     int64
	)
	rank := func(c collective.Comm) error {
		m, err := plan.Build(s, true, 1)
		if err != nil {
			return err
		}
		if err := checkTrainStep(m, batch, 0); err != nil {
			return err
		}
		k := collective.Count(c)
		// The runner moves the gradients into the data-parallel buffers:
		// make it first, then measure.
		run, err := plan.NewRunnerOn(k, m, batch, 2)
		if err != nil {
			return err
		}
		defer run.Close()
		if err := c.Barrier(); err != nil {
			return err
		}
		// Rank 0 starts the measured phase once every rank has built its
		// model (in-process, their weights count together).
		if c.Rank() == 0 {
			settle()
			memory.ResetPeak()
			w := nn.AccountWeights(m.Root())
			if inProcess {
				for _, c := range memory.WeightCategories {
					w[c] *= int64(world)
				}
				memory.SetWeights(w)
			}
		}
		if err := c.Barrier(); err != nil {
			return err
		}
		for i := 0; i < warmup; i++ {
			if _, err := run.Step(); err != nil {
				return err
			}
		}
		t0, b0 := k.Traffic(), k.Busy()
		ts := make([]float64, steps)
		for i := range ts {
			start := time.Now()
			if _, err := run.Step(); err != nil {
				return err
			}
			ts[i] = float64(time.Since(start).Nanoseconds()) / 1e6
		}
		times[c.Rank()] = ts
		if c.Rank() == 0 {
			busy = k.Busy() - b0
		}
		if err := c.Barrier(); err != nil {
			return err
		}
		if c.Rank() == 0 {
			traffic = k.Traffic().Sub(t0)
			snap = memory.Take()
			rss, _ = memory.PeakRSS()
			e := m.EstimateRank(batch, 0)
			sent = e.Comm.Total().Sent
			planned = e.Bytes
			if inProcess {
				for q := 1; q < world; q++ {
					planned = planned.Add(m.EstimateRank(batch, q).Bytes)
				}
			}
		}
		return c.Barrier()
	}
	var err error
	if inProcess {
		err = collective.Run(world, rank)
	} else {
		times = times[:comm.Size()]
		err = rank(comm)
	}
	if err != nil {
		return r, err
	}
	p := &parallelResult{WorldSize: world, ZeroStage: s.Parallel.ZeroStage, InProcess: inProcess, PlannedSent: sent, Traffic: traffic}
	tot := traffic.Total()
	p.SentPerStep, p.CallsPerStep = tot.Sent/int64(steps), tot.Calls/int64(steps)
	p.CommMS = float64(busy.Nanoseconds()) / 1e6 / float64(steps)
	for _, ts := range times {
		if ts == nil {
			continue // other processes' ranks (mpirun): rank 0 reports
		}
		ts = slices.Clone(ts)
		slices.Sort(ts)
		p.PerRankStepMS = append(p.PerRankStepMS, ts[len(ts)/2])
	}
	r.StepMS = slices.Max(p.PerRankStepMS)
	r.ExamplesPerS = float64(world*batch) / (r.StepMS / 1e3)
	r.PeakRSSBytes = rss
	r.Bytes, r.TotalBytes = snap.Peak.Map(), snap.PeakTotal
	r.Planned.Bytes, r.Planned.TotalBytes = planned.Map(), planned.Total()
	r.Parallel = p
	return r, nil
}

// printParallelRows adds the data-parallel rows to a bench train table.
func printParallelRows(t columns[trainResult]) {
	t.row("sent/step", func(r trainResult) string {
		return fmt.Sprintf("%s [%s]", humanBytes(r.Parallel.SentPerStep), humanBytes(r.Parallel.PlannedSent))
	})
	t.row("calls/step", func(r trainResult) string { return fmt.Sprint(r.Parallel.CallsPerStep) })
	t.row("comm ms/step", func(r trainResult) string { return fmt.Sprintf("%.1f", r.Parallel.CommMS) })
	t.row("x full sent", func(r trainResult) string {
		f := t.items[0]
		if f.Method != "full" || f.Parallel.SentPerStep == 0 {
			return "-"
		}
		return fmt.Sprintf("%.4f", float64(r.Parallel.SentPerStep)/float64(f.Parallel.SentPerStep))
	})
}
