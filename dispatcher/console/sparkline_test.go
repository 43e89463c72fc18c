package console

import (
	"strings"
	"testing"
	"time"
)

// TestSpark: points only, scaled to the box, time left to right.
func TestSpark(t *testing.T) {
	end := time.Unix(10_000, 0)
	if s := spark(nil, end, 15*time.Minute); !s.Empty {
		t.Fatalf("no points: %+v", s)
	}
	pts := []Point{{end.Add(-15 * time.Minute), 0}, {end.Add(-7*time.Minute - 30*time.Second), 50}, {end, 100}}
	s := spark(pts, end, 15*time.Minute)
	if s.Max != 100 || s.Last != 100 || s.Points != "0.0,27.0 80.0,14.0 160.0,1.0" {
		t.Errorf("spark = %+v", s)
	}
	if strings.ContainsAny(s.Points+s.Area, "<>\"'&") {
		t.Errorf("points hold markup: %q", s.Points)
	}
	// A service up for 30s: the points spread over the last minute.
	young := spark([]Point{{end.Add(-30 * time.Second), 1}, {end, 1}}, end, 15*time.Minute)
	if !strings.HasPrefix(young.Points, "80.0,") {
		t.Errorf("young spark = %+v", young)
	}
}
