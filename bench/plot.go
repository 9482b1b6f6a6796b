package bench

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WritePlots writes the report's plots into dir, once per format ("png",
// "svg"), and returns the files written:
//
//   - latency-<scenario>.<format>: p50, p90, p99 and p99.9 by transport, at
//     the smallest payload of each latency scenario (log scale);
//   - throughput.<format>: streaming bytes a second by payload, one line per
//     transport and batch (log-log).
func (rep *Report) WritePlots(dir string, formats ...string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	save := func(p *plot.Plot, name string, w, h vg.Length) error {
		for _, f := range formats {
			file := filepath.Join(dir, name+"."+f)
			if err := p.Save(w, h, file); err != nil {
				return fmt.Errorf("plot %s: %w", file, err)
			}
			files = append(files, file)
		}
		return nil
	}
	for _, sr := range rep.Scenarios {
		var p *plot.Plot
		var rows int
		var err error
		switch {
		case sr.Unit == "latency":
			p, rows, err = latencyPlot(sr)
			if err == nil && p != nil {
				err = save(p, "latency-"+sr.Name, 8*vg.Inch, vg.Length(1.2+0.28*float64(rows))*vg.Inch)
			}
		case sr.Name == "stream":
			p, err = throughputPlot(sr)
			if err == nil && p != nil {
				err = save(p, "throughput", 9*vg.Inch, 6*vg.Inch)
			}
		}
		if err != nil {
			return files, err
		}
	}
	return files, nil
}

// latencyPlot draws the percentiles of each transport at the scenario's
// smallest payload, transports down the side, time along a log axis.
func latencyPlot(sr *ScenarioReport) (*plot.Plot, int, error) {
	size := math.MaxInt
	for _, r := range sr.Rows {
		if r.Err == "" && r.P50 > 0 {
			size = min(size, r.Size)
		}
	}
	var rows []*Row
	for _, r := range sr.Rows {
		if r.Err == "" && r.P50 > 0 && r.Size == size {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return nil, 0, nil
	}
	slices.Reverse(rows) // the first row at the top
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s, %s (µs, log scale)", sr.Title, sizeLabel(size))
	p.X.Label.Text = "µs"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	var names []string
	for _, r := range rows {
		names = append(names, r.Transport)
	}
	p.NominalY(names...)
	p.Add(plotter.NewGrid())
	for i, q := range []struct {
		name string
		v    func(*Row) float64
	}{
		{"p50", func(r *Row) float64 { return r.P50 }},
		{"p90", func(r *Row) float64 { return r.P90 }},
		{"p99", func(r *Row) float64 { return r.P99 }},
		{"p99.9", func(r *Row) float64 { return r.P999 }},
	} {
		xys := make(plotter.XYs, len(rows))
		for j, r := range rows {
			xys[j] = plotter.XY{X: max(q.v(r), 1) / 1e3, Y: float64(j)}
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, 0, err
		}
		s.GlyphStyle.Color = colorOf(i)
		s.GlyphStyle.Shape = plotutil.Shape(i)
		s.GlyphStyle.Radius = vg.Points(3)
		p.Add(s)
		p.Legend.Add(q.name, s)
	}
	// Room on the right for the legend, clear of the points.
	for _, r := range rows {
		p.X.Max = max(p.X.Max, r.P999/1e3*40, r.Max/1e3*3)
	}
	p.Legend.Top = true
	return p, len(rows), nil
}

// palette has more distinct colours than plotutil's seven, since a plot
// has a line per transport.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
	{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff}, {0x00, 0x00, 0x00, 0xff}, {0xaa, 0x44, 0x00, 0xff},
}

func colorOf(i int) color.Color { return palette[i%len(palette)] }

// throughputPlot draws bytes a second by payload, one line per transport
// and batch.
func throughputPlot(sr *ScenarioReport) (*plot.Plot, error) {
	type key struct {
		name  string
		batch int
	}
	var keys []key
	series := map[key]plotter.XYs{}
	for _, r := range sr.Rows {
		if r.Err != "" || r.BytesPerSec <= 0 {
			continue
		}
		k := key{r.Transport, max(r.Batch, 1)}
		if _, ok := series[k]; !ok {
			keys = append(keys, k)
		}
		series[k] = append(series[k], plotter.XY{X: float64(r.Size), Y: r.BytesPerSec / 1e9})
	}
	if len(keys) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = sr.Title + " (GB/s, log-log)"
	p.X.Label.Text = "payload, bytes"
	p.Y.Label.Text = "GB/s"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	names := map[string]int{}
	for _, k := range keys {
		if _, ok := names[k.name]; !ok {
			names[k.name] = len(names)
		}
	}
	for _, k := range keys {
		xys := series[k]
		slices.SortFunc(xys, func(a, b plotter.XY) int { return int(a.X - b.X) })
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		i := names[k.name]
		l.Color, s.Color = colorOf(i), colorOf(i)
		s.Shape = plotutil.Shape(i)
		label := k.name
		if k.batch > 1 {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			label = fmt.Sprintf("%s, batch %d", k.name, k.batch)
		}
		l.Width = vg.Points(1.5)
		p.Add(l, s)
		p.Legend.Add(label, l, s)
	}
	// Room on the right for the legend, clear of the lines.
	p.X.Max *= 40
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	return p, nil
}
