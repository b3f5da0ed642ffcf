package data

import (
	"encoding/json"
	"fmt"

	"github.com/golora/golora/internal/sizecheck"
)

// ProcessorConfig is the part of a Hugging Face preprocessor_config.json
// that ViTImageProcessor uses. Fields missing from the JSON take
// ViTImageProcessor's defaults (DefaultProcessorConfig).
type ProcessorConfig struct {
	DoResize      bool
	Height, Width int // target size when DoResize; the required size otherwise
	Resample      int // PIL filter number; only 2 (bilinear) is implemented
	DoRescale     bool
	RescaleFactor float64
	DoNormalize   bool
	ImageMean     []float64 // one value per channel, or one for all
	ImageStd      []float64
}

// DefaultProcessorConfig returns ViTImageProcessor's defaults: resize to
// 224×224 bilinear, rescale by 1/255, normalize with mean and std 0.5.
func DefaultProcessorConfig() ProcessorConfig {
	return ProcessorConfig{
		DoResize: true, Height: 224, Width: 224, Resample: 2,
		DoRescale: true, RescaleFactor: 1.0 / 255,
		DoNormalize: true, ImageMean: []float64{0.5, 0.5, 0.5}, ImageStd: []float64{0.5, 0.5, 0.5},
	}
}

// LoadProcessorConfig reads a preprocessor_config.json.
func LoadProcessorConfig(path string) (ProcessorConfig, error) {
	b, err := sizecheck.ReadFile(path, sizecheck.MaxConfigFile)
	if err != nil {
		return ProcessorConfig{}, fmt.Errorf("data: %w", err)
	}
	cfg, err := ParseProcessorConfig(b)
	if err != nil {
		return cfg, fmt.Errorf("data: %s: %w", path, err)
	}
	return cfg, nil
}

// ParseProcessorConfig parses preprocessor_config.json text. "size" may be
// {"height", "width"} or a single number (older configs); "image_mean" and
// "image_std" may be lists or single numbers. Unknown keys are ignored.
func ParseProcessorConfig(b []byte) (ProcessorConfig, error) {
	var raw struct {
		DoResize      *bool            `json:"do_resize"`
		Size          *json.RawMessage `json:"size"`
		Resample      *int             `json:"resample"`
		DoRescale     *bool            `json:"do_rescale"`
		RescaleFactor *float64         `json:"rescale_factor"`
		DoNormalize   *bool            `json:"do_normalize"`
		ImageMean     *json.RawMessage `json:"image_mean"`
		ImageStd      *json.RawMessage `json:"image_std"`
	}
	cfg := DefaultProcessorConfig()
	if err := json.Unmarshal(b, &raw); err != nil {
		return cfg, fmt.Errorf("preprocessor config: %w", err)
	}
	setBool := func(dst *bool, src *bool) {
		if src != nil {
			*dst = *src
		}
	}
	setBool(&cfg.DoResize, raw.DoResize)
	setBool(&cfg.DoRescale, raw.DoRescale)
	setBool(&cfg.DoNormalize, raw.DoNormalize)
	if raw.Resample != nil {
		cfg.Resample = *raw.Resample
	}
	if raw.RescaleFactor != nil {
		cfg.RescaleFactor = *raw.RescaleFactor
	}
	if raw.Size != nil {
		var hw struct {
			Height *int `json:"height"`
			Width  *int `json:"width"`
		}
		var n int
		if err := json.Unmarshal(*raw.Size, &n); err == nil {
			cfg.Height, cfg.Width = n, n
		} else if err := json.Unmarshal(*raw.Size, &hw); err != nil || hw.Height == nil || hw.Width == nil {
			return cfg, fmt.Errorf(`preprocessor config: size %s is not {"height": H, "width": W} (shortest_edge sizes are not supported)`, *raw.Size)
		} else {
			cfg.Height, cfg.Width = *hw.Height, *hw.Width
		}
	}
	for _, f := range []struct {
		name string
		src  *json.RawMessage
		dst  *[]float64
	}{{"image_mean", raw.ImageMean, &cfg.ImageMean}, {"image_std", raw.ImageStd, &cfg.ImageStd}} {
		if f.src == nil {
			continue
		}
		var one float64
		if err := json.Unmarshal(*f.src, &one); err == nil {
			*f.dst = []float64{one}
		} else if err := json.Unmarshal(*f.src, f.dst); err != nil {
			return cfg, fmt.Errorf("preprocessor config: %s %s is not a number or a list of numbers", f.name, *f.src)
		}
	}
	return cfg, nil
}

// Processor converts images into a model's pixel_values, as
// ViTImageProcessor followed by a channel conversion to the model's
// num_channels: convert channels, resize, rescale, normalize, and lay out
// channels first. All steps after the resize work on 8-bit input values,
// so they are folded into one 256-entry table per channel.
type Processor struct {
	cfg      ProcessorConfig
	channels int
	lut      [][256]float32 // per output channel
	resizer  *resizer
	convBuf  []uint8
}

// NewProcessor checks cfg and returns a processor producing images with the
// given number of channels (the model config's num_channels: 1 or 3).
func NewProcessor(cfg ProcessorConfig, channels int) (*Processor, error) {
	if channels != 1 && channels != 3 {
		return nil, fmt.Errorf("data: %d channels; want 1 or 3", channels)
	}
	if cfg.Height <= 0 || cfg.Width <= 0 {
		return nil, fmt.Errorf("data: image size %d×%d; want positive", cfg.Height, cfg.Width)
	}
	if px := sizecheck.Mul(int64(cfg.Height), int64(cfg.Width)); px > MaxImagePixels {
		return nil, fmt.Errorf("data: image size %d×%d = %s pixels, more than the %s pixels golora decodes",
			cfg.Height, cfg.Width, sizecheck.Count(px), sizecheck.Count(MaxImagePixels))
	}
	if cfg.DoResize && cfg.Resample != 2 {
		return nil, fmt.Errorf("data: resample %d is not supported; only 2 (bilinear) is implemented", cfg.Resample)
	}
	p := &Processor{cfg: cfg, channels: channels, lut: make([][256]float32, channels)}
	for c := range channels {
		mean, std := 0.0, 1.0
		if cfg.DoNormalize {
			var err error
			if mean, err = perChannel("image_mean", cfg.ImageMean, c, channels); err != nil {
				return nil, err
			}
			if std, err = perChannel("image_std", cfg.ImageStd, c, channels); err != nil {
				return nil, err
			}
			if std == 0 {
				return nil, fmt.Errorf("data: image_std[%d] is 0", c)
			}
		}
		// The same operations in the same precision as transformers:
		// rescale in float64 then cast to float32, normalize in float32.
		m, s := float32(mean), float32(std)
		for v := range 256 {
			x := float32(v)
			if cfg.DoRescale {
				x = float32(float64(v) * cfg.RescaleFactor)
			}
			if cfg.DoNormalize {
				x = (x - m) / s
			}
			p.lut[c][v] = x
		}
	}
	if cfg.DoResize {
		p.resizer = newResizer(cfg.Height, cfg.Width)
	}
	return p, nil
}

func perChannel(name string, v []float64, c, channels int) (float64, error) {
	switch len(v) {
	case 1:
		return v[0], nil
	case channels:
		return v[c], nil
	}
	return 0, fmt.Errorf("data: %s has %d values for a %d-channel model", name, len(v), channels)
}

// Channels, Height and Width give the output shape of one image.
func (p *Processor) Channels() int { return p.channels }
func (p *Processor) Height() int   { return p.cfg.Height }
func (p *Processor) Width() int    { return p.cfg.Width }

// Len is the number of floats one processed image takes (C·H·W).
func (p *Processor) Len() int { return p.channels * p.cfg.Height * p.cfg.Width }

// Check reports whether img can be processed: without resizing it must
// already have the configured size.
func (p *Processor) Check(img Image) error {
	if img.Channels != 1 && img.Channels != 3 {
		return fmt.Errorf("data: image has %d channels; want 1 or 3", img.Channels)
	}
	if len(img.Pix) != img.Height*img.Width*img.Channels {
		return fmt.Errorf("data: image of %d×%d×%d holds %d bytes", img.Height, img.Width, img.Channels, len(img.Pix))
	}
	if !p.cfg.DoResize && (img.Height != p.cfg.Height || img.Width != p.cfg.Width) {
		return fmt.Errorf("data: image is %d×%d but do_resize is off and the model wants %d×%d",
			img.Height, img.Width, p.cfg.Height, p.cfg.Width)
	}
	return nil
}

// Process writes img's pixel values into dst (length Len) in channel-first
// order. A Processor keeps scratch buffers: use one per goroutine.
func (p *Processor) Process(dst []float32, img Image) error {
	if err := p.Check(img); err != nil {
		return err
	}
	if len(dst) != p.Len() {
		return fmt.Errorf("data: Process into %d floats; want %d", len(dst), p.Len())
	}
	// RGB to gray before resizing, as PIL's convert("L") then resize; gray
	// to RGB after it, by reading the one channel three times (resizing
	// works per channel, so the result is the same at a third of the cost).
	if img.Channels == 3 && p.channels == 1 {
		img, p.convBuf = convertChannels(p.convBuf, img, 1)
	}
	if p.resizer != nil {
		img = p.resizer.resize(img)
	}
	hw := img.Height * img.Width
	stride := img.Channels
	for ch := range p.channels {
		lut := &p.lut[ch]
		out := dst[ch*hw : (ch+1)*hw]
		src := img.Pix[min(ch, stride-1):]
		for i := range out {
			out[i] = lut[src[i*stride]]
		}
	}
	return nil
}
