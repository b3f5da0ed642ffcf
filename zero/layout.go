package zero

import (
	"fmt"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/nn"
)

// Unit is one part of the flattened trainable parameters: the values of
// Params one after another, split into one share per rank.
type Unit struct {
	Params []*nn.Param
	Start  []int // offset of each parameter within the unit
	Offset int   // offset of the unit in the whole flat vector
	Size   int   // values in the unit
	Counts []int // values of each rank's share
	Offs   []int // offset of each rank's share within the unit
}

// Layout is how a model's trainable parameters are flattened and sharded.
type Layout struct {
	World int
	Units []Unit
	// unitOf maps the model's nn.GradUnits index to a Units index (-1:
	// no trainable parameter); nil when the model is one unit.
	unitOf []int
}

// NewLayout flattens the trainable parameters of m for world ranks: one
// unit per nn.GradUnits part with trainable parameters, in the order the
// backward finishes them, then any trainable parameter outside the parts;
// a model without parts, or whose parts share a parameter, is one unit.
func NewLayout(m nn.Module, world int) (*Layout, error) {
	if world < 1 {
		return nil, fmt.Errorf("zero: world size %d, want >= 1", world)
	}
	params := nn.TrainableParams(m)
	l := &Layout{World: world}
	var groups [][]*nn.Param
	if gu, ok := m.(nn.GradUnits); ok {
		parts := gu.GradUnits()
		owner := map[*nn.Param]int{}
		shared := false
		for i, u := range parts {
			for _, p := range nn.AllParams(u) {
				if _, dup := owner[p]; dup {
					shared = true
				}
				owner[p] = i
			}
		}
		if !shared {
			byPart := make([][]*nn.Param, len(parts))
			var rest []*nn.Param
			for _, p := range params {
				if i, ok := owner[p]; ok {
					byPart[i] = append(byPart[i], p)
				} else {
					rest = append(rest, p)
				}
			}
			l.unitOf = make([]int, len(parts))
			for i, ps := range byPart {
				l.unitOf[i] = -1
				if len(ps) > 0 {
					l.unitOf[i] = len(groups)
					groups = append(groups, ps)
				}
			}
			if len(rest) > 0 {
				groups = append(groups, rest)
			}
		}
	}
	if groups == nil && len(params) > 0 {
		l.unitOf = nil
		groups = [][]*nn.Param{params}
	}
	off := 0
	for _, ps := range groups {
		u := Unit{Params: ps, Offset: off}
		for _, p := range ps {
			u.Start = append(u.Start, u.Size)
			u.Size += p.Len()
		}
		u.Counts = collective.Split(u.Size, world)
		u.Offs, _ = collective.Offsets(u.Counts, world, u.Size)
		l.Units = append(l.Units, u)
		off += u.Size
	}
	return l, nil
}

// Total is the number of trainable values.
func (l *Layout) Total() int {
	if len(l.Units) == 0 {
		return 0
	}
	u := l.Units[len(l.Units)-1]
	return u.Offset + u.Size
}

// Owned is the number of values in rank's shares.
func (l *Layout) Owned(rank int) int {
	n := 0
	for _, u := range l.Units {
		n += u.Counts[rank]
	}
	return n
}

// MaxUnit is the size of the largest unit (ZeRO-2's gradient buffer).
func (l *Layout) MaxUnit() int {
	m := 0
	for _, u := range l.Units {
		m = max(m, u.Size)
	}
	return m
}

// GradientValues is how many gradient values a rank holds at the given
// stage: all of them, or (stage 2) a buffer for the largest unit plus its
// shares. One rank holds all of them at every stage.
func (l *Layout) GradientValues(stage, rank int) int {
	if stage == 2 && l.World > 1 {
		return l.MaxUnit() + l.Owned(rank)
	}
	return l.Total()
}

// OptimizerValues is how many trainable values a rank keeps optimizer
// state for: all of them at stage 0 (and with one rank), its shares
// otherwise.
func (l *Layout) OptimizerValues(stage, rank int) int {
	if stage == 0 || l.World == 1 {
		return l.Total()
	}
	return l.Owned(rank)
}

// StepTraffic is one rank's collective traffic in an optimizer step of
// accum micro-batches, as an Engine and the trainer do it: the loss sum
// (two float64), then stage 0 all-reduces the whole gradient; stage 1
// reduce-scatters and all-gathers each unit and all-reduces one float64
// per rank for the norm; stage 2 reduce-scatters each unit after every
// micro-batch instead. One rank communicates nothing.
func (l *Layout) StepTraffic(stage, accum int) collective.ByOp {
	var t collective.ByOp
	if l.World == 1 {
		return t
	}
	add := func(op collective.Op, payload int64) {
		t[op] = t[op].Add(collective.Traffic{Calls: 1, Payload: payload, Sent: collective.RingBytes(op, payload, l.World)})
	}
	add(collective.OpAllReduce, 16)
	switch stage {
	case 0:
		if l.Total() > 0 {
			add(collective.OpAllReduce, 4*int64(l.Total()))
		}
		return t
	case 1:
		for _, u := range l.Units {
			add(collective.OpReduceScatter, 4*int64(u.Size))
		}
	case 2:
		for range accum {
			for _, u := range l.Units {
				add(collective.OpReduceScatter, 4*int64(u.Size))
			}
		}
	}
	add(collective.OpAllReduce, 8*int64(l.World))
	for _, u := range l.Units {
		add(collective.OpAllGather, 4*int64(u.Size))
	}
	return t
}
