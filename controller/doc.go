// Package controller is waitingroom's domain: registered hosts, the state
// machine that wakes and stops their backends, and the interfaces it consumes
// (Provider, Store, Clock). Adapters for the outside world live in their own
// packages (providers/*, store/*, web, scheduler, traefik) and depend on this
// one, never the other way round.
package controller
