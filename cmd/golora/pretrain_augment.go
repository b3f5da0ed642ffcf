package main

import (
	"github.com/golora/golora/data"
	"github.com/golora/golora/train"
)

// shifted is light augmentation for pretraining: every example is moved
// by up to ±max pixels in each direction (the background fills in), by an
// offset that depends only on (seed, epoch, index), so a resumed run sees
// the same images. It implements train.EpochSetter.
type shifted struct {
	*processed
	max   int
	seed  uint64
	epoch int
	buf   []uint8
}

var _ train.EpochSetter = (*shifted)(nil)

func (s *shifted) SetEpoch(e int) { s.epoch = e }

// Fill implements train.Dataset with the shifted examples.
func (s *shifted) Fill(b *data.Batch, idx []int) { train.ImageDataset(s).Fill(b, idx) }

func (s *shifted) Example(i int, dst []float32) int32 {
	img := s.ds.Images[i]
	h := mix(s.seed ^ mix(uint64(s.epoch)<<32|uint64(i)))
	span := uint64(2*s.max + 1)
	dx, dy := int(h%span)-s.max, int(h/span%span)-s.max
	if cap(s.buf) < len(img.Pix) {
		s.buf = make([]uint8, len(img.Pix))
	}
	out := data.Image{Height: img.Height, Width: img.Width, Channels: img.Channels, Pix: s.buf[:len(img.Pix)]}
	clear(out.Pix)
	c := img.Channels
	for y := range img.Height {
		sy := y - dy
		if sy < 0 || sy >= img.Height {
			continue
		}
		for x := range img.Width {
			sx := x - dx
			if sx < 0 || sx >= img.Width {
				continue
			}
			copy(out.Pix[(y*img.Width+x)*c:(y*img.Width+x+1)*c], img.Pix[(sy*img.Width+sx)*c:])
		}
	}
	if err := s.proc.Process(dst, out); err != nil {
		panic("golora: image checked before training failed: " + err.Error())
	}
	return int32(s.ds.Labels[i])
}

// mix is the splitmix64 finaliser.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
