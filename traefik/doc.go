// Package traefik connects waitingroom to Traefik v3: it generates Traefik's
// dynamic configuration from the registry (YAML for the file provider, JSON
// for the HTTP provider, byte-identical for the same input) and reads real
// traffic back as activity (Traefik's Prometheus request counters, or a
// ForwardAuth touch endpoint), so a backend whose traffic never passes
// through waitingroom is not stopped as idle. See README.md beside this file.
package traefik
