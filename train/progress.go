package train

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress reports the run on stderr: a bar redrawn in place when the
// writer is a terminal, a plain line per logging step otherwise, nothing
// when quiet.
type progress struct {
	w       io.Writer
	tty     bool
	quiet   bool
	total   int
	start   time.Time
	startAt int // step the clock started at (a resumed run's first step)
	perStep int // examples per optimizer step
	last    time.Time
	drawn   bool
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newProgress(w io.Writer, quiet bool, total, startAt, perStep int) *progress {
	if w == nil {
		quiet = true
	}
	now := time.Now()
	return &progress{w: w, tty: !quiet && isTerminal(w), quiet: quiet, total: total,
		start: now, startAt: startAt, perStep: perStep}
}

// rates returns images per second and the estimated time left after step.
func (p *progress) rates(step int) (float64, time.Duration) {
	el := time.Since(p.start).Seconds()
	done := step - p.startAt
	if done <= 0 || el <= 0 {
		return 0, 0
	}
	ips := float64(done*p.perStep) / el
	eta := time.Duration(float64(p.total-step) * el / float64(done) * float64(time.Second))
	return ips, eta
}

// step is called after every optimizer step; logged says whether this step
// is a logging step (plain lines are written only then).
func (p *progress) step(step int, loss float64, logged bool) {
	if p.quiet {
		return
	}
	ips, eta := p.rates(step)
	if p.tty {
		// Redraw at most ten times a second, and always on the last step.
		if now := time.Now(); now.Sub(p.last) < 100*time.Millisecond && step != p.total {
			return
		} else {
			p.last = now
		}
		const width = 30
		fill := width * step / max(p.total, 1)
		bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
		fmt.Fprintf(p.w, "\r[%s] step %d/%d  loss %.4f  %.0f ex/s  ETA %s ", bar, step, p.total, loss, ips, fmtDur(eta))
		p.drawn = true
		return
	}
	if logged {
		fmt.Fprintf(p.w, "step %d/%d  loss %.4f  %.0f ex/s  ETA %s\n", step, p.total, loss, ips, fmtDur(eta))
	}
}

// line prints a message on its own line (ending the bar first).
func (p *progress) line(format string, args ...any) {
	if p.quiet {
		return
	}
	p.end()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// end finishes the bar's line.
func (p *progress) end() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// fmtDur formats d as m:ss or h:mm:ss.
func fmtDur(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
