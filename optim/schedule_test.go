package optim

import (
	"math"
	"strings"
	"testing"
)

func TestScheduleMultiplier(t *testing.T) {
	// Expected values worked out from transformers' lambdas (the cosine ones
	// evaluated with Python's math.cos, as LambdaLR does).
	for _, c := range []struct {
		kind          string
		warmup, total int
		step          int
		want          float64
	}{
		{"constant", 4, 100, 0, 1}, // get_scheduler's constant ignores warmup
		{"constant", 4, 100, 1000, 1},
		{"constant_with_warmup", 4, 0, 0, 0},
		{"constant_with_warmup", 4, 0, 1, 0.25},
		{"constant_with_warmup", 4, 0, 3, 0.75},
		{"constant_with_warmup", 4, 0, 4, 1},
		{"constant_with_warmup", 0, 0, 0, 1},
		{"linear", 10, 100, 0, 0},
		{"linear", 10, 100, 5, 0.5},
		{"linear", 10, 100, 10, 1},
		{"linear", 10, 100, 37, 0.7}, // (100−37)/90
		{"linear", 10, 100, 55, 0.5},
		{"linear", 10, 100, 99, 1.0 / 90},
		{"linear", 10, 100, 100, 0},
		{"linear", 10, 100, 120, 0}, // clamped, not negative
		{"linear", 0, 4, 0, 1},
		{"linear", 0, 4, 1, 0.75},
		{"linear", 10, 5, 10, 0}, // warmup longer than training
		{"cosine", 10, 110, 0, 0},
		{"cosine", 10, 110, 1, 0.1},
		{"cosine", 10, 110, 10, 1},
		{"cosine", 10, 110, 35, 0.8535533905932737}, // ½(1 + cos(π/4))
		{"cosine", 10, 110, 37, 0.8306559326618259},
		{"cosine", 10, 110, 60, 0.5},
		{"cosine", 10, 110, 110, 0},
		{"cosine", 5, 5, 5, 1}, // no decay phase: max(1, T−W) = 1
		{"cosine", 5, 5, 6, 0},
	} {
		s, err := NewSchedule(c.kind, c.warmup, c.total)
		if err != nil {
			t.Fatalf("NewSchedule(%q, %d, %d): %v", c.kind, c.warmup, c.total, err)
		}
		if got := s.Multiplier(c.step); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("%s W=%d T=%d: Multiplier(%d) = %.17g, want %.17g", c.kind, c.warmup, c.total, c.step, got, c.want)
		}
	}
}

func TestScheduleErrors(t *testing.T) {
	for _, c := range []struct {
		kind          string
		warmup, total int
		want          string
	}{
		{"polynomial", 0, 10, "unknown learning-rate schedule"},
		{"", 0, 10, "unknown learning-rate schedule"},
		{"linear", 0, 0, "needs the number of training steps"},
		{"cosine", 2, -1, "needs the number of training steps"},
		{"constant_with_warmup", -1, 0, "negative warmup"},
	} {
		_, err := NewSchedule(c.kind, c.warmup, c.total)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewSchedule(%q, %d, %d) error = %v, want %q", c.kind, c.warmup, c.total, err, c.want)
		}
	}
}

func TestWarmupSteps(t *testing.T) {
	for _, c := range []struct {
		total, steps int
		ratio        float64
		want         int
	}{
		{100, 0, 0, 0},
		{100, 0, 0.1, 10},
		{95, 0, 0.1, 10},  // ceil(9.5)
		{100, 0, 0.07, 8}, // 100·0.07 = 7.000000000000001 in float64, as in Python
		{1000, 0, 0.06, 60},
		{100, 5, 0.5, 5}, // explicit steps win
		{100, 0, 1, 100},
	} {
		got, err := WarmupSteps(c.total, c.steps, c.ratio)
		if err != nil || got != c.want {
			t.Errorf("WarmupSteps(%d, %d, %v) = %d, %v; want %d", c.total, c.steps, c.ratio, got, err, c.want)
		}
	}
	for _, c := range []struct {
		steps int
		ratio float64
	}{{-1, 0}, {0, -0.1}, {0, 1.5}, {0, math.NaN()}} {
		if _, err := WarmupSteps(100, c.steps, c.ratio); err == nil {
			t.Errorf("WarmupSteps(100, %d, %v) accepted", c.steps, c.ratio)
		}
	}
}
