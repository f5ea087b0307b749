// Package hold keeps API clients, webhooks and other non-browser requests
// for a sleeping host waiting while its backend wakes, then forwards each one
// to the backend and streams the real answer back — like Sablier's blocking
// strategy or Knative's activator, but bounded: a per-host and a global cap
// on held requests, a cap on buffered request bodies, a cap on concurrent
// forwarded requests per host, and a per-host hold_timeout after which the
// client gets a JSON 503 with Retry-After.
//
// The public listener decides per request with ShouldHold (the host's
// wait: page | hold | auto) and hands held requests to Serve.
//
// The same reverse proxy makes the handoff (Handoff, docs/HANDOFF.md): a
// request that reaches waitingroom for a host already running is forwarded
// to its backend at once, if sending it twice is harmless (Resendable),
// so a visitor never gets a second waiting page while Traefik's health
// check catches up. A backend recorded running that does not answer has
// the controller re-read it (Recheck).
package hold
