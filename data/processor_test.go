package data

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// lcgBytes reproduces gen_pil.py's input generator.
func lcgBytes(seed uint32, n int) []uint8 {
	x := seed
	out := make([]uint8, n)
	for i := range out {
		x = (x*1103515245 + 12345) & 0x7fffffff
		out[i] = uint8(x >> 16)
	}
	return out
}

type pilVectors struct {
	Resize []struct {
		Mode   string
		In     [2]int // width, height (PIL order)
		Out    [2]int
		Seed   uint32
		SHA256 string
		Pixels []uint8
	}
	ToGray struct {
		Seed    uint32
		RGBTail []uint8 `json:"rgb_tail"`
		Gray    []uint8
	} `json:"to_gray"`
	ViT struct {
		In            [2]int
		Seed          uint32
		Size          [2]int    // height, width
		ImageMean     []float64 `json:"image_mean"`
		ImageStd      []float64 `json:"image_std"`
		RescaleFactor float64   `json:"rescale_factor"`
		Bits          []uint32  `json:"pixel_values_f32_bits"`
	}
}

func loadPILVectors(t *testing.T) pilVectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pil_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v pilVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func channelsOf(mode string) int {
	if mode == "L" {
		return 1
	}
	return 3
}

// TestResizeMatchesPillow compares with Image.resize(BILINEAR) of Pillow
// 9.4, bit for bit, when enlarging, shrinking (antialiased) and both.
func TestResizeMatchesPillow(t *testing.T) {
	v := loadPILVectors(t)
	for _, tc := range v.Resize {
		c := channelsOf(tc.Mode)
		w, h := tc.In[0], tc.In[1]
		img := Image{Height: h, Width: w, Channels: c, Pix: lcgBytes(tc.Seed, w*h*c)}
		got := newResizer(tc.Out[1], tc.Out[0]).resize(img)
		if got.Width != tc.Out[0] || got.Height != tc.Out[1] || got.Channels != c {
			t.Fatalf("%v %v->%v: got %dx%dx%d", tc.Mode, tc.In, tc.Out, got.Width, got.Height, got.Channels)
		}
		if tc.Pixels != nil {
			for i := range got.Pix {
				if got.Pix[i] != tc.Pixels[i] {
					t.Fatalf("%s %v->%v: byte %d = %d, Pillow %d", tc.Mode, tc.In, tc.Out, i, got.Pix[i], tc.Pixels[i])
				}
			}
		}
		sum := sha256.Sum256(got.Pix)
		if hex.EncodeToString(sum[:]) != tc.SHA256 {
			t.Errorf("%s %v->%v: output differs from Pillow's", tc.Mode, tc.In, tc.Out)
		}
	}
}

func TestResizeSameSizeIsExactNoOp(t *testing.T) {
	img := Image{Height: 5, Width: 4, Channels: 3, Pix: lcgBytes(3, 60)}
	got := newResizer(5, 4).resize(img)
	if !slices.Equal(got.Pix, img.Pix) {
		t.Error("resizing to the same size changed pixels")
	}
}

func TestToGrayMatchesPillow(t *testing.T) {
	v := loadPILVectors(t).ToGray
	rgb := append(lcgBytes(v.Seed, 4096*3), v.RGBTail...)
	img := Image{Height: 1, Width: len(rgb) / 3, Channels: 3, Pix: rgb}
	got, _ := convertChannels(nil, img, 1)
	if !slices.Equal(got.Pix, v.Gray) {
		for i := range got.Pix {
			if got.Pix[i] != v.Gray[i] {
				t.Fatalf("pixel %d %v: gray %d, Pillow %d", i, rgb[3*i:3*i+3], got.Pix[i], v.Gray[i])
			}
		}
	}
	// Gray to RGB replicates.
	back, _ := convertChannels(nil, got, 3)
	for i, g := range got.Pix {
		if back.Pix[3*i] != g || back.Pix[3*i+1] != g || back.Pix[3*i+2] != g {
			t.Fatalf("gray->RGB pixel %d = %v, want %d thrice", i, back.Pix[3*i:3*i+3], g)
		}
	}
}

// TestViTProcessorMatches checks the whole pipeline against numpy doing
// transformers' arithmetic on Pillow's resize.
func TestViTProcessorMatches(t *testing.T) {
	v := loadPILVectors(t).ViT
	cfg := DefaultProcessorConfig()
	cfg.Height, cfg.Width = v.Size[0], v.Size[1]
	cfg.ImageMean, cfg.ImageStd, cfg.RescaleFactor = v.ImageMean, v.ImageStd, v.RescaleFactor
	p, err := NewProcessor(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	w, h := v.In[0], v.In[1]
	img := Image{Height: h, Width: w, Channels: 3, Pix: lcgBytes(v.Seed, w*h*3)}
	out := make([]float32, p.Len())
	if err := p.Process(out, img); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(v.Bits) {
		t.Fatalf("%d values, want %d", len(out), len(v.Bits))
	}
	for i, x := range out {
		if math.Float32bits(x) != v.Bits[i] {
			t.Fatalf("pixel_values[%d] = %v, reference %v", i, x, math.Float32frombits(v.Bits[i]))
		}
	}
}

// TestProcessorByHand works a 2×2 gray image through by hand.
func TestProcessorByHand(t *testing.T) {
	img := Image{Height: 2, Width: 2, Channels: 1, Pix: []uint8{0, 51, 255, 102}}
	cfg := DefaultProcessorConfig()
	cfg.Height, cfg.Width = 2, 2
	cfg.ImageMean, cfg.ImageStd = []float64{0.5, 0.25, 0}, []float64{0.5, 0.25, 1}
	p, err := NewProcessor(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, 12)
	if err := p.Process(out, img); err != nil {
		t.Fatal(err)
	}
	// x = v/255; channel 0: (x-0.5)/0.5, channel 1: (x-0.25)/0.25, channel 2: x.
	want := []float32{
		-1, -0.6, 1, -0.2,
		-1, -0.2, 3, 0.6,
		0, 0.2, 1, 0.4,
	}
	for i := range want {
		if math.Abs(float64(out[i]-want[i])) > 1e-6 {
			t.Errorf("value %d = %v, want %v", i, out[i], want[i])
		}
	}

	// No rescale, no normalize: raw 0..255 values; RGB to gray by luma.
	cfg = ProcessorConfig{Height: 1, Width: 2}
	p, err = NewProcessor(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	out = make([]float32, 2)
	rgb := Image{Height: 1, Width: 2, Channels: 3, Pix: []uint8{255, 0, 0, 10, 20, 30}}
	if err := p.Process(out, rgb); err != nil {
		t.Fatal(err)
	}
	// 255·0.299 = 76.245 -> 76; 10·0.299+20·0.587+30·0.114 = 18.15 -> 18.
	if out[0] != 76 || out[1] != 18 {
		t.Errorf("gray = %v, want [76 18]", out)
	}
	if err := p.Process(out, Image{Height: 2, Width: 2, Channels: 1, Pix: make([]uint8, 4)}); err == nil ||
		!strings.Contains(err.Error(), "do_resize is off") {
		t.Errorf("wrong-size image without resize: %v", err)
	}
}

func TestParseProcessorConfig(t *testing.T) {
	def := DefaultProcessorConfig()
	cases := []struct {
		name, json string
		want       func(c *ProcessorConfig)
		err        string
	}{
		{"empty means defaults", `{}`, func(c *ProcessorConfig) {}, ""},
		{"hf vit", `{"do_normalize":true,"do_rescale":true,"do_resize":true,"image_mean":[0.5,0.5,0.5],
			"image_processor_type":"ViTImageProcessor","image_std":[0.5,0.5,0.5],"resample":2,
			"rescale_factor":0.00392156862745098,"size":{"height":28,"width":32}}`,
			func(c *ProcessorConfig) { c.Height, c.Width = 28, 32 }, ""},
		{"size as a number", `{"size":384}`, func(c *ProcessorConfig) { c.Height, c.Width = 384, 384 }, ""},
		{"scalar mean", `{"image_mean":0.1,"image_std":[0.2]}`,
			func(c *ProcessorConfig) { c.ImageMean, c.ImageStd = []float64{0.1}, []float64{0.2} }, ""},
		{"switches off", `{"do_resize":false,"do_rescale":false,"do_normalize":false}`,
			func(c *ProcessorConfig) { c.DoResize, c.DoRescale, c.DoNormalize = false, false, false }, ""},
		{"shortest edge", `{"size":{"shortest_edge":224}}`, nil, "shortest_edge"},
		{"bad mean", `{"image_mean":"imagenet"}`, nil, "image_mean"},
		{"not json", `{"size":`, nil, "preprocessor config"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProcessorConfig([]byte(tc.json))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := def
			tc.want(&want)
			if got.DoResize != want.DoResize || got.Height != want.Height || got.Width != want.Width ||
				got.Resample != want.Resample || got.DoRescale != want.DoRescale || got.RescaleFactor != want.RescaleFactor ||
				got.DoNormalize != want.DoNormalize || !slices.Equal(got.ImageMean, want.ImageMean) || !slices.Equal(got.ImageStd, want.ImageStd) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestNewProcessorErrors(t *testing.T) {
	cases := []struct {
		name     string
		edit     func(c *ProcessorConfig)
		channels int
		want     string
	}{
		{"bicubic", func(c *ProcessorConfig) { c.Resample = 3 }, 3, "resample 3"},
		{"two channels", func(c *ProcessorConfig) {}, 2, "2 channels"},
		{"mean length", func(c *ProcessorConfig) { c.ImageMean = []float64{0.1, 0.2} }, 3, "image_mean has 2 values"},
		{"zero std", func(c *ProcessorConfig) { c.ImageMean, c.ImageStd = []float64{0}, []float64{0} }, 1, "image_std[0] is 0"},
		{"zero size", func(c *ProcessorConfig) { c.Height = 0 }, 3, "image size"},
	}
	for _, tc := range cases {
		cfg := DefaultProcessorConfig()
		tc.edit(&cfg)
		if _, err := NewProcessor(cfg, tc.channels); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestGrayToRGBAfterResize checks the shortcut of resizing a gray image
// once and replicating it: the result equals resizing the RGB conversion.
func TestGrayToRGBAfterResize(t *testing.T) {
	cfg := DefaultProcessorConfig()
	cfg.Height, cfg.Width = 13, 9
	p, err := NewProcessor(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	gray := Image{Height: 7, Width: 11, Channels: 1, Pix: lcgBytes(4, 77)}
	rgb, _ := convertChannels(nil, gray, 3)
	a, b := make([]float32, p.Len()), make([]float32, p.Len())
	if err := p.Process(a, gray); err != nil {
		t.Fatal(err)
	}
	if err := p.Process(b, rgb); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, b) {
		t.Error("gray image differs from its RGB conversion after processing")
	}
}
