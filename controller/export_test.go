package controller

// Busy reports whether this process still works on a transition of host
// (a job running or queued), for tests that must wait for it to end.
func (c *Controller) Busy(host string) bool { return c.working(host) }
