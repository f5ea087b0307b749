package traefik

import (
	"context"

	"github.com/waitingroom/waitingroom/controller"
)

// Toucher records activity of a host; source says where it was seen, and
// the dashboard shows it. *controller.Controller implements it.
type Toucher interface {
	Touch(ctx context.Context, host, source string) error
}

var _ Toucher = (*controller.Controller)(nil)

// Activity sources, as passed to Toucher.Touch.
const (
	SourceMetrics     = "traefik-metrics"
	SourceForwardAuth = "traefik-forwardauth"
)
