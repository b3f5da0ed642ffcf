package train

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"

	"github.com/golora/golora/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// ChartFile is the name of the PNG chart written at the end of a run.
const ChartFile = "curves.png"

// WriteChart draws the training loss, evaluation loss and evaluation
// accuracy of history against the step into a PNG at path: losses on the
// left panel, accuracy on the right.
func WriteChart(path string, history []Record) error {
	var train, eval, acc plotter.XYs
	for _, r := range history {
		if r.Loss != nil {
			train = append(train, plotter.XY{X: float64(r.Step), Y: *r.Loss})
		}
		if r.EvalLoss != nil {
			eval = append(eval, plotter.XY{X: float64(r.Step), Y: *r.EvalLoss})
		}
		if r.EvalAccuracy != nil {
			acc = append(acc, plotter.XY{X: float64(r.Step), Y: 100 * *r.EvalAccuracy})
		}
	}
	if len(train)+len(eval)+len(acc) == 0 {
		return fmt.Errorf("train: chart %s: no metrics to draw", path)
	}

	lossPlot := plot.New()
	lossPlot.Title.Text = "loss"
	lossPlot.X.Label.Text = "step"
	accPlot := plot.New()
	accPlot.Title.Text = "eval accuracy (%)"
	accPlot.X.Label.Text = "step"
	for _, s := range []struct {
		p    *plot.Plot
		name string
		xy   plotter.XYs
		i    int
	}{{lossPlot, "train", train, 0}, {lossPlot, "eval", eval, 1}, {accPlot, "eval", acc, 1}} {
		if len(s.xy) == 0 {
			continue
		}
		l, err := plotter.NewLine(s.xy)
		if err != nil {
			return fmt.Errorf("train: chart %s: %w", path, err)
		}
		l.Color = plotColors[s.i]
		l.Width = vg.Points(1.5)
		s.p.Add(l)
		s.p.Legend.Add(s.name, l)
		if len(s.xy) < 30 { // few points (evaluations): mark them
			pts, err := plotter.NewScatter(s.xy)
			if err != nil {
				return fmt.Errorf("train: chart %s: %w", path, err)
			}
			pts.Color = plotColors[s.i]
			s.p.Add(pts)
		}
	}
	lossPlot.Legend.Top = true

	const w, h = 10 * vg.Inch, 4 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align([][]*plot.Plot{{lossPlot, accPlot}}, tiles, dc)
	lossPlot.Draw(canvases[0][0])
	accPlot.Draw(canvases[0][1])

	return atomicfile.WriteFile(path, func(wr io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(wr)
		return err
	}, 0o644)
}

// chartPath is where a run's chart goes.
func chartPath(dir string) string { return filepath.Join(dir, ChartFile) }

var plotColors = []color.Color{color.RGBA{R: 31, G: 119, B: 180, A: 255}, color.RGBA{R: 214, G: 39, B: 40, A: 255}}
