package dispatcher

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher/metrics"
	"github.com/jetdispatch/dispatcher/dispatcher/verdict"
	"github.com/jetdispatch/dispatcher/worker"
)

// busyVerdicts are n verdicts as busy targets have them: every field set.
func busyVerdicts(n int, name func(int) string) []TargetVerdict {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	out := make([]TargetVerdict, n)
	for i := range out {
		out[i] = TargetVerdict{Target: name(i), State: verdict.Growing,
			Cause: fmt.Sprintf("jobs come faster than they end: backlog +%.3g/s, %.3g/s done", float64(i%97)/10, float64(i%31)),
			Since: at.Add(-time.Duration(i) * time.Second), Backlog: uint64(100 + i), Trend: round3(float64(i%97) / 10),
			Rate: round3(float64(i%31) + 0.5), ETAMS: int64(60000 + i), InFlight: i % 32, Buffered: i % 128,
			Outcomes: uint64(1000 + i), Deliveries: uint64(1100 + i), Redeliveries: uint64(i % 7)}
	}
	return out
}

// TestHealthRecordSizes10k measures the verdicts record of an instance
// serving 10,000 targets: idle ones are not listed; busy ones, every field
// set, fit parts under the max payload and read back whole.
func TestHealthRecordSizes10k(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 verdicts")
	}
	url := startNATS(t)
	m := newTestMember(t, url, "big/1")
	m.run(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rnd := rand.New(rand.NewPCG(1, 2))
	random64 := func(int) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
		b := make([]byte, 64)
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		return string(b)
	}
	now := time.Now()
	for _, tt := range []struct {
		name   string
		listed []TargetVerdict
	}{
		{"10,000 idle targets", nil},
		{"10,000 busy targets named target-00000", busyVerdicts(10000, func(i int) string { return fmt.Sprintf("target-%05d", i) })},
		{"10,000 busy targets with random 64-character names", busyVerdicts(10000, random64)},
	} {
		now = now.Add(time.Second)
		listed := sortedVerdicts(tt.listed)
		m.putHealth(ctx, now, 2*time.Minute, 10000, listed)
		size := 0
		for i := range m.healthW.parts {
			e, err := m.inst.Get(ctx, healthKey(m.id, i))
			if err != nil {
				t.Fatal(err)
			}
			size += len(e.Value())
		}
		t.Logf("%s: verdicts %d bytes in %d part(s)", tt.name, size, m.healthW.parts)
		rec, err := readHealth(ctx, m.inst, m.id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Served != 10000 || rec.Listed != len(listed) || len(rec.Targets) != len(listed) || !rec.At.Equal(now.UTC()) {
			t.Errorf("%s: read %d served, %d listed, %d verdicts at %v", tt.name, rec.Served, rec.Listed, len(rec.Targets), rec.At)
		}
		if len(listed) > 0 {
			if v, ok := rec.find(listed[4321].Target); !ok || v != listed[4321] {
				t.Errorf("%s: verdict of %s read back as %+v (%v), want %+v", tt.name, listed[4321].Target, v, ok, listed[4321])
			}
		}
	}
}

func sortedVerdicts(vs []TargetVerdict) []TargetVerdict {
	out := append([]TargetVerdict{}, vs...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Target < out[j-1].Target; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// TestHealthRecordParts: a record too big for one part is cut in parts that
// each stand alone; a shorter record deletes the parts it no longer uses;
// an unchanged one is not written again before healthRefresh; stop deletes
// them all.
func TestHealthRecordParts(t *testing.T) {
	url := startNATS(t)
	m := newTestMember(t, url, "parts/1")
	m.run(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m.partSize = 4 << 10
	many := busyVerdicts(300, func(i int) string { return fmt.Sprintf("t-%04d", i) })
	now := time.Now()
	m.putHealth(ctx, now, time.Minute, 300, many)
	if m.healthW.parts < 2 {
		t.Fatalf("%d part(s) for 300 verdicts in parts of 4 KiB, want several", m.healthW.parts)
	}
	for i := range m.healthW.parts {
		e, err := m.inst.Get(ctx, healthKey(m.id, i))
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Value()) > m.partSize {
			t.Errorf("part %d: %d bytes, over %d", i, len(e.Value()), m.partSize)
		}
		p, err := decodeHealthPart(e.Value())
		if err != nil || p.Part != i || p.Parts != m.healthW.parts {
			t.Errorf("part %d decodes as part %d of %d (%v)", i, p.Part, p.Parts, err)
		}
	}
	rec, err := readHealth(ctx, m.inst, m.id)
	if err != nil || len(rec.Targets) != 300 || rec.Targets[299] != many[299] {
		t.Fatalf("read %v, %v", rec, err)
	}
	before := m.healthW.most
	m.putHealth(ctx, now.Add(time.Second), time.Minute, 300, many[:1])
	if m.healthW.parts != 1 || m.healthW.at != now.Add(time.Second) {
		t.Fatalf("%d part(s) written at %v, want 1 now", m.healthW.parts, m.healthW.at)
	}
	if _, err := m.inst.Get(ctx, healthKey(m.id, 1)); err == nil {
		t.Error("part 1 of the longer record is still there")
	}
	m.putHealth(ctx, now.Add(2*time.Second), time.Minute, 300, many[:1])
	if !m.healthW.at.Equal(now.Add(time.Second)) {
		t.Error("unchanged verdicts written again before healthRefresh")
	}
	m.putHealth(ctx, now.Add(time.Second+healthRefresh), time.Minute, 300, many[:1])
	if !m.healthW.at.Equal(now.Add(time.Second + healthRefresh)) {
		t.Error("unchanged verdicts not written again after healthRefresh")
	}
	m.stop()
	for i := range before {
		if _, err := m.inst.Get(ctx, healthKey(m.id, i)); err == nil {
			t.Errorf("part %d left after stop", i)
		}
	}
}

// TestLagSetFleet merges the instances' verdicts: the worst wins, calls in
// flight and buffered deliveries add up, the ETA comes from the summed
// rate, and a target no live instance serves is STOPPED at once with jobs
// stored, UNKNOWN without.
func TestLagSetFleet(t *testing.T) {
	at := time.Now().UTC()
	both := NewTargetSet([]string{"busy", "idle", "quiet", "gone-old"})
	fl := &FleetView{
		Instances: []FleetInstance{{ID: "A", Instance: "a/1"}, {ID: "B", Instance: "b/2"}, {ID: "C", Instance: "c/3"}},
		serving:   newServing(map[string]*TargetSet{"A": both, "B": both, "C": NewTargetSet([]string{"legacy-only"})}),
		health: map[string]*HealthRecord{
			"A": {ID: "A", At: at, WindowMS: 120000, Targets: []TargetVerdict{
				{Target: "busy", State: verdict.Growing, Cause: "rate limit 20/s saturated", Since: at, Rate: 20, InFlight: 3, Buffered: 10, Trend: 2},
			}},
			"B": {ID: "B", At: at, WindowMS: 120000, Targets: []TargetVerdict{
				{Target: "busy", State: verdict.Stalled, Cause: "8 calls in flight, none ended in 2m", Since: at.Add(-time.Minute), InFlight: 8, ETAMS: -1},
				{Target: "quiet", State: verdict.OK, Cause: "draining", Rate: 4, Since: at},
			}},
		},
	}
	lag := &Lag{Targets: []TargetLag{
		{Target: "busy", Pending: 400}, {Target: "idle"}, {Target: "quiet", Pending: 10},
		{Target: "legacy-only", Pending: 1}, {Target: "stopped", Pending: 5}, {Target: "empty"}, {Target: "retrying", Retrying: 2},
	}}
	lag.SetFleet(fl)
	byName := map[string]TargetLag{}
	for _, tl := range lag.Targets {
		byName[tl.Target] = tl
	}
	for _, tc := range []struct {
		target   string
		state    verdict.State
		cause    string
		eta      string // "nil" or a number
		inFlight int
		buffered int
	}{
		{"busy", verdict.Stalled, "8 calls in flight, none ended in 2m (2 instances)", "20", 11, 10},
		{"idle", verdict.OK, "idle (2 instances)", "0", 0, 0},
		{"quiet", verdict.OK, "draining (2 instances)", "2.5", 0, 0},
		{"legacy-only", verdict.Unknown, "1 live instance(s) serve it and publish no verdicts", "nil", 0, 0},
		{"stopped", verdict.Stopped, "no instance serves stopped; 5 jobs stored", "nil", 0, 0},
		{"retrying", verdict.Stopped, "2 jobs stored", "nil", 0, 0},
		{"empty", verdict.Unknown, "no instance serves empty; nothing stored", "nil", 0, 0},
	} {
		tl := byName[tc.target]
		h := tl.Health
		if h == nil {
			t.Fatalf("%s: no health", tc.target)
		}
		eta := "nil"
		if h.ETASeconds != nil {
			eta = fmt.Sprint(*h.ETASeconds)
		}
		if h.State != tc.state || !strings.Contains(h.Cause, tc.cause) || eta != tc.eta || tl.InFlight != tc.inFlight || tl.Buffered != tc.buffered {
			t.Errorf("%s: %s %q ETA %s, in flight %d, buffered %d; want %s %q ETA %s, %d, %d", tc.target, h.State, h.Cause, eta,
				tl.InFlight, tl.Buffered, tc.state, tc.cause, tc.eta, tc.inFlight, tc.buffered)
		}
	}
	if h := byName["busy"].Health; len(h.Instances) != 2 || h.WindowSeconds != 120 || h.Since == nil || !h.Since.Equal(at.Add(-time.Minute)) {
		t.Errorf("busy: %+v", h)
	}
	none := &Lag{Targets: []TargetLag{{Target: "x", Pending: 3}}}
	none.SetFleet(&FleetView{serving: newServing(nil)})
	if h := none.Targets[0].Health; h.State != verdict.Stopped || h.Cause != "no instance is live; 3 jobs stored" {
		t.Errorf("no fleet: %s %q", h.State, h.Cause)
	}
}

// TestTrackSamples: samples older than the window's base go; an idle
// target keeps two.
func TestTrackSamples(t *testing.T) {
	t0 := time.Now()
	tr := &track{}
	for i := range 100 {
		at := t0.Add(time.Duration(i) * time.Second)
		tr.add(verdict.Sample{At: at}, at.Add(-10*time.Second))
	}
	if len(tr.samples) != 2 {
		t.Errorf("idle target: %d samples, want 2", len(tr.samples))
	}
	tr = &track{}
	for i := range 100 {
		at := t0.Add(time.Duration(i) * time.Second)
		tr.add(verdict.Sample{At: at, Backlog: 5, Outcomes: uint64(i)}, at.Add(-10*time.Second))
	}
	if n := len(tr.samples); n != 11 || !tr.samples[0].At.Equal(t0.Add(89*time.Second)) {
		t.Errorf("busy target: %d samples from %v, want 11 from the window's base", n, tr.samples[0].At.Sub(t0))
	}
}

// TestVerdicts10k measures a judgment of 10,000 targets (what each backlog
// poll costs the poller's goroutine): idle ones, then all with a backlog.
func TestVerdicts10k(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 workers")
	}
	url := startNATS(t)
	var tgs []worker.Target
	for i := range 10000 {
		tgs = append(tgs, worker.Target{Name: fmt.Sprintf("target-%05d", i), Concurrency: 8})
	}
	m := newTestMember(t, url, "big/1", tgs...)
	m.run(t)
	mx := metrics.New(metrics.BuildInfo{})
	vs := newVerdicts(2*time.Minute, mx, m.fleetMember, func() map[string]*worker.Worker { return m.workers })
	ctx := context.Background()
	now := time.Now()
	var busy metrics.Backlog
	for _, tg := range tgs {
		busy.Targets = append(busy.Targets, metrics.TargetBacklog{Target: tg.Name, Pending: 5})
	}
	for _, tt := range []struct {
		name string
		b    metrics.Backlog
	}{{"idle", metrics.Backlog{}}, {"with a backlog", busy}} {
		var took time.Duration
		const polls = 30
		for range polls {
			now = now.Add(5 * time.Second)
			start := time.Now()
			vs.observe(ctx, tt.b, now)
			took += time.Since(start)
		}
		t.Logf("10,000 targets %s: %s per poll (judging, metrics, publishing)", tt.name, (took / polls).Round(time.Microsecond))
	}
	if n := len(mx.HealthTargets()); n != 10000 {
		t.Errorf("%d targets with a health series after a backlog, want 10000", n)
	}
	if v := vs.tracks["target-00042"].v; v.State != verdict.Stalled {
		t.Errorf("a backlog for 30 polls (2.5m) without an outcome: %s (%s), want STALLED", v.State, v.Cause)
	}
}
