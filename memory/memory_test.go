package memory

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/golora/golora/tensor"
)

func TestTrackPeakReset(t *testing.T) {
	base := Take()
	Track(Workspace, 1000)
	Track(Workspace, -600)
	Track(Activations, 50)
	s := Take()
	if d := s.Live[Workspace] - base.Live[Workspace]; d != 400 {
		t.Errorf("live workspace grew by %d, want 400", d)
	}
	if s.Peak[Workspace] < base.Live[Workspace]+1000 {
		t.Errorf("peak workspace %d, want >= %d", s.Peak[Workspace], base.Live[Workspace]+1000)
	}
	if d := s.Allocated[Workspace] - base.Allocated[Workspace]; d != 1000 {
		t.Errorf("allocated workspace grew by %d, want 1000", d)
	}
	ResetPeak()
	if s := Take(); s.Peak != s.Live || s.PeakTotal != s.Live.Total() {
		t.Errorf("after ResetPeak: peak %v, live %v", s.Peak, s.Live)
	}
	Track(Workspace, -400)
	Track(Activations, -50)
}

// TestAllocFreed checks that a buffer leaves the live count when the
// garbage collector frees it.
func TestAllocFreed(t *testing.T) {
	before := Take().Live[Data]
	x := Alloc(Data, 1<<16)
	if d := Take().Live[Data] - before; d != 4<<16 {
		t.Fatalf("live data grew by %d, want %d", d, 4<<16)
	}
	runtime.KeepAlive(x)
	x = nil
	for i := 0; i < 100 && Take().Live[Data] != before; i++ {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if l := Take().Live[Data]; l != before {
		t.Errorf("live data %d after the buffer was collected, want %d", l, before)
	}
}

func TestSetWeights(t *testing.T) {
	SetWeights(Bytes{WeightsF32: 100, WeightsBF16: 50, WeightsNF4: 7})
	SetWeights(Bytes{WeightsF32: 80, WeightsBF16: 10, WeightsInt8: 3, Gradients: 1000})
	l := Take().Live
	if l[WeightsF32] != 80 || l[WeightsBF16] != 10 || l[WeightsInt8] != 3 || l[WeightsNF4] != 0 || l.Weights() != 93 {
		t.Errorf("weights %v", l.WeightsByDType())
	}
	if l[Gradients] >= 1000 {
		t.Error("SetWeights set a category that is not weights")
	}
	SetWeights(Bytes{})
}

func TestWeightCategories(t *testing.T) {
	if len(WeightCategories) != len(tensor.DTypes) {
		t.Fatalf("%d weight categories for %d dtypes", len(WeightCategories), len(tensor.DTypes))
	}
	for _, dt := range tensor.DTypes {
		c := WeightsOf(dt)
		if back, ok := c.DType(); !ok || back != dt {
			t.Errorf("WeightsOf(%v) = %v, whose dtype is %v", dt, c, back)
		}
		if want := "weights_" + strings.ToLower(dt.String()); c.String() != want {
			t.Errorf("%v's category is named %q, want %q", dt, c, want)
		}
	}
	if _, ok := Gradients.DType(); ok {
		t.Error("gradients have a weight dtype")
	}
}

func TestRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, err := PeakRSS(); err == nil {
			t.Error("PeakRSS without /proc returned no error")
		}
		return
	}
	cur, err := CurrentRSS()
	if err != nil {
		t.Fatal(err)
	}
	peak, err := PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	if cur <= 0 || peak < cur {
		t.Errorf("RSS %d, peak %d", cur, peak)
	}
	// A phase that touches 64 MiB raises the peak by about that much.
	_, phase := Measure(func() {
		b := make([]byte, 64<<20)
		for i := range b {
			b[i] = 1
		}
		runtime.KeepAlive(b)
	})
	if phase < cur+60<<20 {
		t.Errorf("peak RSS of a 64 MiB phase %d, from %d", phase, cur)
	}
}

func TestBytesJSON(t *testing.T) {
	var b Bytes
	b[WeightsF32], b[WeightsNF4], b[Gradients], b[Data] = 4, 2, 8, 1
	got, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"activations":0,"data":1,"gradients":8,"optimizer":0,"weights":6,"weights_f32":4,"weights_nf4":2,"workspace":0}`
	if string(got) != want {
		t.Errorf("JSON %s, want %s", got, want)
	}
	if b.Total() != 15 || b.Sub(b).Total() != 0 || b.Max(Bytes{Gradients: 9})[Gradients] != 9 {
		t.Error("Bytes arithmetic")
	}
}

// TestGCHeadroom: with 64 MiB live, a 16 MiB headroom is a GC percent of
// at most 25, and the previous setting is returned.
func TestGCHeadroom(t *testing.T) {
	initial := debug.SetGCPercent(100)
	debug.SetGCPercent(initial)
	live := make([]float32, 16<<20) // 64 MiB
	prev := GCHeadroom(16 << 20)
	set := debug.SetGCPercent(prev)
	runtime.KeepAlive(live)
	if set < 1 || set > 25 {
		t.Errorf("GC percent %d for 16 MiB over at least 64 MiB live", set)
	}
	if prev != initial {
		t.Errorf("returned %d as the previous percent, was %d", prev, initial)
	}
}
