package verdict_test

import (
	"fmt"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher/verdict"
)

func ExampleJudge() {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var samples []verdict.Sample
	for i := range 25 { // 2m of samples every 5s: 40 jobs stored, none ends
		samples = append(samples, verdict.Sample{At: t0.Add(time.Duration(i) * 5 * time.Second), Backlog: 40,
			Deliveries: 8, Calls: uint64(8 + i), CallsDone: uint64(i), Retries: uint64(i), InFlight: 8})
	}
	v := verdict.Judge(verdict.Settings{}, samples, verdict.Facts{Target: "payments", LastErrorClass: "timeout_total"}, t0.Add(2*time.Minute))
	fmt.Println(v.State, "|", v.Cause, "|", verdict.FormatETA(v.ETA))
	// Output: STALLED | calls fail (timeout_total): 24 retries scheduled, no outcome in 2m | never
}
