package data

import "testing"

// BenchmarkProcessMNISTToViT is one 28×28 gray digit to 3×224×224
// pixel_values: the per-example cost of feeding MNIST to a ViT.
func BenchmarkProcessMNISTToViT(b *testing.B) {
	p, err := NewProcessor(DefaultProcessorConfig(), 3)
	if err != nil {
		b.Fatal(err)
	}
	img := Image{Height: 28, Width: 28, Channels: 1, Pix: lcgBytes(1, 784)}
	out := make([]float32, p.Len())
	for b.Loop() {
		p.Process(out, img)
	}
}

// BenchmarkProcessPhotoToViT shrinks a 640×480 RGB photo to 224×224.
func BenchmarkProcessPhotoToViT(b *testing.B) {
	p, err := NewProcessor(DefaultProcessorConfig(), 3)
	if err != nil {
		b.Fatal(err)
	}
	img := Image{Height: 480, Width: 640, Channels: 3, Pix: lcgBytes(2, 640*480*3)}
	out := make([]float32, p.Len())
	for b.Loop() {
		p.Process(out, img)
	}
}
