package traefik

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	"go.yaml.in/yaml/v3"
)

// YAML renders cfg for Traefik's file provider. The output is deterministic:
// struct fields in declaration order, map keys sorted.
func YAML(cfg Config) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("rendering traefik configuration as YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("rendering traefik configuration as YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// JSON renders cfg for Traefik's HTTP provider, as deterministically as
// YAML: Traefik reloads, resetting every health check, whenever the bytes
// change.
func JSON(cfg Config) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Health check paths may carry '&'; keep them readable.
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("rendering traefik configuration as JSON: %w", err)
	}
	return buf.Bytes(), nil
}

// Handler serves the configuration cfg returns as JSON for Traefik's HTTP
// provider (GET /api/traefik). cfg is called per request, so live addresses
// show up at Traefik's next poll. The body carries a strong ETag; a request
// whose If-None-Match matches gets 304 (Traefik itself always fetches the
// whole body and compares bytes).
func Handler(cfg func() Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := JSON(cfg())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:16]) + `"`
		h := w.Header()
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}
