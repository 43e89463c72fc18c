package audit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/dispatcher/audit"
	"github.com/jetdispatch/dispatcher/schemas"
)

// A console records what a user did, then lists the day's pauses.
func Example() {
	var js jetstream.JetStream // from jetstream.New(nc)
	if js == nil {
		return
	}
	ctx := context.Background()
	topo := schemas.Topology{Prefix: "dispatch"}
	_, err := audit.Append(ctx, js, topo, schemas.AuditRecord{
		Who: "token:ops-console", Action: schemas.AuditReplay,
		Selection: schemas.AuditSelection{Targets: []string{"payments"}, Reasons: []string{schemas.ReasonExhausted}},
		Selected:  42, Count: 42, Result: schemas.AuditOK,
	})
	if err != nil {
		fmt.Println(err)
	}
	entries, _ := audit.List(ctx, js, topo, audit.Filter{Since: time.Now().Add(-24 * time.Hour), Actions: []string{schemas.AuditPause}})
	for _, e := range entries {
		fmt.Println(e.Seq, e.Record.Who, e.Record.Selection.Target)
	}
	// Output:
}
