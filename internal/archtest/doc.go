// Package archtest keeps docs/ARCHITECTURE.md true: its test reads the
// import graph with `go list` and fails on an arrow the drawing forbids.
package archtest
