package activity

import (
	"context"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// Checkers combines busy checkers: pass it as one controller.BusyChecker,
// or ask it for every reason a host is busy (the dashboard's "why awake").
type Checkers []controller.BusyChecker

var _ controller.BusyChecker = Checkers(nil)

// Busy is the first checker's reason that holds the host busy.
func (cs Checkers) Busy(ctx context.Context, h controller.Host, now time.Time) (bool, string) {
	for _, c := range cs {
		if busy, why := c.Busy(ctx, h, now); busy {
			return true, why
		}
	}
	return false, ""
}

// Reasons lists every reason the host is busy now; empty when none is.
// Reading them never records activity.
func (cs Checkers) Reasons(ctx context.Context, h controller.Host, now time.Time) []string {
	var out []string
	for _, c := range cs {
		if busy, why := c.Busy(ctx, h, now); busy {
			out = append(out, why)
		}
	}
	return out
}
