package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// parseDuration reads "30m", "1h30m", "500ms" or "0". A bare number is
// refused because "30" could mean seconds or minutes; negative values are
// refused because no setting here means anything by them.
func parseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration; write it like 30s, 5m or 1h30m")
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if isDigits(s) {
			return 0, fmt.Errorf("duration %q has no unit; write it like %ss or %sm", s, s, s)
		}
		if strings.HasSuffix(s, "d") && isDigits(strings.TrimSuffix(s, "d")) {
			return 0, fmt.Errorf("invalid duration %q: days are not a unit here; write hours, e.g. 24h", s)
		}
		return 0, fmt.Errorf("invalid duration %q; write it like 30s, 5m or 1h30m", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return Duration(d), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// UnmarshalYAML reads a duration written as a string such as "30m". The
// error carries the line so that callers decoding outside Parse still get
// a position.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration like 30m, got %s", n.Line, describeNode(n))
	}
	if n.ShortTag() == "!!null" {
		*d = 0
		return nil
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration the way it is read ("30m", not
// "30m0s" or nanoseconds), so a displayed configuration can be pasted back.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String formats the duration compactly: 30m, 1h30m, 1m30s, 250ms.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
