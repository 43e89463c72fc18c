package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkOverviewPart times one refresh of an open overview (GET
// /ui/overview.part, rendered whole) for 50 and 1000 busy targets: its CPU
// time over the page's 3s interval is what an open page costs.
func BenchmarkOverviewPart(b *testing.B) {
	for _, n := range []int{50, 1000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			f := NewFigures(FigureSettings{})
			var ts []TargetState
			now := time.Now()
			for i := range n {
				name := fmt.Sprintf("target-%04d", i)
				ts = append(ts, TargetState{Name: name, Concurrency: 16, LimitScope: "instance", Servers: 1,
					Endpoints: []EndpointState{{Endpoint: "https://api.example.com/", Local: "closed"}}})
				for j := range 100 {
					f.AttemptDone(name, "https://api.example.com/", 200, "", time.Duration(j)*time.Millisecond)
					f.JobEnded(name, "delivered", "")
				}
			}
			for k := range 90 {
				pending := map[string]uint64{}
				for i := range n {
					pending[fmt.Sprintf("target-%04d", i)] = uint64(k * i)
				}
				f.ObserveBacklog(pending, now.Add(time.Duration(k-90)*10*time.Second))
			}
			c, err := New(nil, testTopo, fakeBackend{targets: ts}, f, tokenAuth(""), Settings{OverviewRows: 5000}, WithLoopback(true))
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				w := httptest.NewRecorder()
				c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/ui/overview.part", nil))
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
