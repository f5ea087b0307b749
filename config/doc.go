// Package config reads the operator's YAML registry: strict decoding (an
// unknown key is an error, never a silently ignored setting), validation
// that reports every problem at once as FILE:LINE: message, defaults, the
// conversion into controller.Host values, and hot reload that keeps the
// configuration in use when an edit is broken.
package config
