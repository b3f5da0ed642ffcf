package data

import (
	"slices"
	"testing"
)

// batch is a copy of one batch's contents.
type batch struct {
	pix    []float32
	labels []int32
}

func collect(l *Loader) []batch {
	var out []batch
	for l.Next() {
		p, lab := l.Batch()
		out = append(out, batch{slices.Clone(p), slices.Clone(lab)})
	}
	return out
}

func identityProcessor(t *testing.T) *Processor {
	t.Helper()
	p, err := NewProcessor(ProcessorConfig{Height: 1, Width: 1}, 1) // raw pixel values
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoaderEpochs(t *testing.T) {
	d := toyDataset(10, 3)
	for _, tc := range []struct {
		dropLast bool
		sizes    []int
	}{{false, []int{4, 4, 2}}, {true, []int{4, 4}}} {
		l, err := NewLoader(d, identityProcessor(t), LoaderConfig{BatchSize: 4, DropLast: tc.dropLast, Shuffle: true, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		if l.BatchesPerEpoch() != len(tc.sizes) {
			t.Errorf("BatchesPerEpoch = %d, want %d", l.BatchesPerEpoch(), len(tc.sizes))
		}
		var epochs [][]int
		for e := range 2 {
			if err := l.Seek(e, 0); err != nil {
				t.Fatal(err)
			}
			var seen []int
			for i, b := range collect(l) {
				if len(b.labels) != tc.sizes[i] {
					t.Fatalf("dropLast=%v batch %d has %d examples, want %d", tc.dropLast, i, len(b.labels), tc.sizes[i])
				}
				for j, v := range b.pix {
					ex := int(v) // the pixel is the example index
					seen = append(seen, ex)
					if int(b.labels[j]) != d.Labels[ex] {
						t.Fatalf("example %d carries label %d", ex, b.labels[j])
					}
				}
			}
			if want := Order(10, 5, e)[:len(seen)]; !slices.Equal(seen, want) {
				t.Errorf("epoch %d visits %v, want %v", e, seen, want)
			}
			epochs = append(epochs, seen)
		}
		if slices.Equal(epochs[0], epochs[1]) {
			t.Error("two epochs visit the same order")
		}
	}
}

// TestLoaderResume stops a run mid-epoch and resumes a new loader from the
// saved (epoch, position): the rest of the batches must be identical.
func TestLoaderResume(t *testing.T) {
	d := toyDataset(23, 4)
	cfg := LoaderConfig{BatchSize: 5, Shuffle: true, Seed: 11}
	full, _ := NewLoader(d, identityProcessor(t), cfg)
	var all []batch
	for e := range 3 {
		full.Seek(e, 0)
		all = append(all, collect(full)...)
	}

	run, _ := NewLoader(d, identityProcessor(t), cfg)
	run.Seek(1, 0)
	run.Next()
	run.Next()
	epoch, pos := run.Epoch(), run.Pos()
	if epoch != 1 || pos != 10 {
		t.Fatalf("position (%d, %d), want (1, 10)", epoch, pos)
	}

	resumed, _ := NewLoader(d, identityProcessor(t), cfg)
	if err := resumed.Seek(epoch, pos); err != nil {
		t.Fatal(err)
	}
	var rest []batch
	rest = append(rest, collect(resumed)...)
	resumed.Seek(resumed.Epoch()+1, 0)
	rest = append(rest, collect(resumed)...)
	want := all[5+2:] // 5 batches per epoch; epoch 0, then two batches of epoch 1
	if len(rest) != len(want) {
		t.Fatalf("resumed run gave %d batches, want %d", len(rest), len(want))
	}
	for i := range want {
		if !slices.Equal(rest[i].pix, want[i].pix) || !slices.Equal(rest[i].labels, want[i].labels) {
			t.Fatalf("batch %d after resume differs", i)
		}
	}
	if err := resumed.Seek(0, 24); err == nil {
		t.Error("seek past the end accepted")
	}
}

func TestLoaderProcessesImages(t *testing.T) {
	// Two 2×2 gray images through a 3-channel 4×4 ViT processor: the batch
	// must hold exactly what Process gives for each.
	d := &Dataset{Name: "two", Classes: []string{"x", "y"}, Labels: []int{1, 0}, Images: []Image{
		{2, 2, 1, []uint8{0, 100, 200, 255}},
		{2, 2, 1, []uint8{9, 8, 7, 6}},
	}}
	cfg := DefaultProcessorConfig()
	cfg.Height, cfg.Width = 4, 4
	p, err := NewProcessor(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(d, p, LoaderConfig{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Next() || l.Size != 2 {
		t.Fatal("no batch of 2")
	}
	pix, labels := l.Batch()
	if len(pix) != 2*3*4*4 || !slices.Equal(labels, []int32{1, 0}) {
		t.Fatalf("batch of %d values, labels %v", len(pix), labels)
	}
	ref, _ := NewProcessor(cfg, 3)
	one := make([]float32, ref.Len())
	for i, img := range d.Images {
		ref.Process(one, img)
		if !slices.Equal(pix[i*48:(i+1)*48], one) {
			t.Errorf("example %d differs from Process", i)
		}
	}
	if l.Next() {
		t.Error("a second batch from 2 examples")
	}

	// Without resizing, an image of the wrong size is refused up front.
	cfg.DoResize = false
	p, _ = NewProcessor(cfg, 3)
	if _, err := NewLoader(d, p, LoaderConfig{BatchSize: 2}); err == nil {
		t.Error("NewLoader accepted 2×2 images for a 4×4 model without resize")
	}
	if _, err := NewLoader(d, ref, LoaderConfig{BatchSize: 0}); err == nil {
		t.Error("batch size 0 accepted")
	}
}
