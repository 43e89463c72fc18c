package console

import (
	"strconv"
	"strings"
	"time"
)

// Sparkline sizes, in SVG user units.
const (
	sparkW = 160
	sparkH = 28
)

// Spark is an inline SVG sparkline: the polyline's points, and the
// largest value (the top of the box).
type Spark struct {
	Points string
	Area   string
	Max    float64
	Last   float64
	W, H   int
	Empty  bool
}

// spark draws pts over the span ending at end: time runs left to right,
// over the whole span once the points reach that far back, else from the
// first point (a minute at least: a service just started); values bottom
// (0) to top (the largest).
func spark(pts []Point, end time.Time, span time.Duration) Spark {
	s := Spark{W: sparkW, H: sparkH, Empty: len(pts) == 0}
	if s.Empty {
		return s
	}
	for _, p := range pts {
		s.Max = max(s.Max, p.Value)
	}
	s.Last = pts[len(pts)-1].Value
	top := s.Max
	if top == 0 {
		top = 1
	}
	start := end.Add(-span)
	if first := pts[0].At; first.After(start) {
		start = first
		if end.Sub(start) < time.Minute {
			start = end.Add(-time.Minute)
		}
		span = end.Sub(start)
	}
	var b strings.Builder
	x := func(t time.Time) float64 {
		f := float64(t.Sub(start)) / float64(span)
		return min(max(f, 0), 1) * sparkW
	}
	y := func(v float64) float64 { return sparkH - 1 - v/top*(sparkH-2) }
	for i, p := range pts {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatFloat(x(p.At), 'f', 1, 64))
		b.WriteByte(',')
		b.WriteString(strconv.FormatFloat(y(p.Value), 'f', 1, 64))
	}
	s.Points = b.String()
	s.Area = strconv.FormatFloat(x(pts[0].At), 'f', 1, 64) + "," + strconv.Itoa(sparkH) + " " + s.Points + " " +
		strconv.FormatFloat(x(pts[len(pts)-1].At), 'f', 1, 64) + "," + strconv.Itoa(sparkH)
	return s
}
