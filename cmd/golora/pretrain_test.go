package main

import (
	"slices"
	"testing"

	"github.com/golora/golora/data"
)

func TestShiftedAugmentation(t *testing.T) {
	// One 5x5 image with a single bright pixel in the middle.
	img := data.Image{Height: 5, Width: 5, Channels: 1, Pix: make([]uint8, 25)}
	img.Pix[12] = 255
	ds := &data.Dataset{Name: "one", Classes: []string{"a"}, Images: []data.Image{img, img}, Labels: []int{0, 0}}
	pc := grayProcessorConfig(5, 1)
	p, err := newProcessed(ds, &pc, data.Spec{Channels: 1, Height: 5, Width: 5})
	if err != nil {
		t.Fatal(err)
	}
	s := &shifted{processed: p, max: 2, seed: 7}
	where := func(epoch, i int) int {
		s.SetEpoch(epoch)
		dst := make([]float32, 25)
		s.Example(i, dst)
		at := -1
		for j, v := range dst {
			switch v {
			case 1: // 255 normalised
				if at >= 0 {
					t.Fatalf("two bright pixels")
				}
				at = j
			case -1: // background
			default:
				t.Fatalf("value %v: the shift must move pixels, not blend them", v)
			}
		}
		return at
	}
	var seen []int
	for e := range 20 {
		a := where(e, 0)
		if a < 0 {
			t.Fatalf("epoch %d: the pixel left the image (a shift of 2 keeps the centre inside)", e)
		}
		if b := where(e, 0); b != a {
			t.Errorf("epoch %d: example 0 shifted to %d then %d: not deterministic", e, a, b)
		}
		if !slices.Contains(seen, a) {
			seen = append(seen, a)
		}
	}
	if len(seen) < 8 {
		t.Errorf("20 epochs gave only %d different shifts", len(seen))
	}
}

func TestParseClasses(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		err  bool
	}{
		{"5-9", []int{5, 6, 7, 8, 9}, false},
		{"0,2,4", []int{0, 2, 4}, false},
		{"1-3,7", []int{1, 2, 3, 7}, false},
		{"9-5", nil, true},
		{"a", nil, true},
		{"-1", nil, true},
		{"", nil, true},
	} {
		got, err := parseClasses(tc.in)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("parseClasses(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}
