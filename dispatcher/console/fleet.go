package console

import (
	"context"
	"net/http"
	"time"
)

// FleetPage is the fleet page's content.
type FleetPage struct {
	Fleet *Fleet
	Error string
	Took  time.Duration
}

func (c *Console) serveFleet(w http.ResponseWriter, r *http.Request, a access) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	fl, err := c.backend.Fleet(ctx)
	p := FleetPage{Fleet: fl, Took: time.Since(start)}
	status := http.StatusOK
	if err != nil {
		p.Error, status = err.Error(), http.StatusBadGateway
	}
	c.render(w, r, status, "fleet", a, p)
}
