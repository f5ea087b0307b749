// Package web is waitingroom's HTTP side. The public listener is what
// Traefik's fallback reaches: it wakes a registered host's backend and
// answers with a waiting page (or JSON), a status endpoint and a stream of
// state changes. The admin listener serves the operator's dashboard, the
// JSON API, Prometheus metrics, health and readiness, behind the
// configured users and tokens.
//
// The package talks to the domain through small interfaces
// (PublicController, AdminController) that *controller.Controller
// satisfies, so tests can fake it. Templates and static files are embedded.
package web
