package main

import (
	"fmt"
	"image/color"
	"io"
	"strconv"

	"github.com/golora/golora/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// writeSweepChart draws accuracy, step time and peak memory against the
// rank (log scale, one tick per rank) into a PNG at path: three panels.
func writeSweepChart(path string, rep sweepReport) error {
	if len(rep.Results) == 0 {
		return fmt.Errorf("sweep: chart %s: no results", path)
	}
	var ticks []plot.Tick
	for _, r := range rep.Results {
		ticks = append(ticks, plot.Tick{Value: float64(r.R), Label: strconv.Itoa(r.R)})
	}
	panel := func(title string, y func(sweepRow) float64) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "LoRA rank r"
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		if len(rep.Results) > 1 && rep.Results[0].R > 0 {
			p.X.Scale = plot.LogScale{}
		}
		xy := make(plotter.XYs, len(rep.Results))
		for i, r := range rep.Results {
			xy[i] = plotter.XY{X: float64(r.R), Y: y(r)}
		}
		l, s, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		l.Color, s.Color = sweepColor, sweepColor
		l.Width = vg.Points(1.5)
		p.Add(l, s)
		return p, nil
	}
	acc, err := panel("test accuracy (%)", func(r sweepRow) float64 { return 100 * r.Accuracy })
	if err != nil {
		return fmt.Errorf("sweep: chart %s: %w", path, err)
	}
	step, err := panel("time per step (ms)", func(r sweepRow) float64 { return r.StepMS })
	if err != nil {
		return fmt.Errorf("sweep: chart %s: %w", path, err)
	}
	mem, err := panel("peak accounted memory (MiB)", func(r sweepRow) float64 { return mib(r.PeakBytes) })
	if err != nil {
		return fmt.Errorf("sweep: chart %s: %w", path, err)
	}
	const w, h = 13 * vg.Inch, 4 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 3, PadX: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	plots := [][]*plot.Plot{{acc, step, mem}}
	canvases := plot.Align(plots, tiles, dc)
	for i, p := range plots[0] {
		p.Draw(canvases[0][i])
	}
	return atomicfile.WriteFile(path, func(wr io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(wr)
		return err
	}, 0o644)
}

var sweepColor = color.RGBA{R: 31, G: 119, B: 180, A: 255}
