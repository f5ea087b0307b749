package config

import (
	"strings"
	"testing"
)

func TestIndentProblemNamesTheLineThatIsOff(t *testing.T) {
	tests := []struct {
		name string
		yaml []string
		line int
		msg  string
	}{
		{"key between levels", []string{"hosts:", "  - host: a", "    provider: b", "   start: x"}, 4, "indented 3 spaces, matching no block above (0, 2, 4)"},
		{"deeper under a value", []string{"hosts:", "  - host: a", "    provider: b", "      ready_url: x"}, 4, "indented 6 spaces under a line that has a value"},
		{"top-level key indented", []string{"listen: x", " admin: y"}, 2, "indented 1 spaces under a line that has a value"},
		{"block scalar is skipped", []string{"page:", "  body: |", "      odd", "   indent", " bad: x"}, 5, "indented 1 spaces, matching no block above (0, 2)"},
		{"comments and blank lines are skipped", []string{"a:", "  # x", "", "  b: 1", " c: 2"}, 5, "matching no block above (0, 2)"},
		{"multi-line flow list: not followed", []string{"a: [1,", "  2]", " b: 3"}, 0, ""},
		{"well indented", []string{"a:", "  b: 1", "  c:", "    - d", "    - e: 1", "      f: 2", "g: 3"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, msg, ok := indentProblem([]byte(strings.Join(tt.yaml, "\n")))
			if tt.line == 0 {
				if ok {
					t.Fatalf("found line %d: %s; want nothing", line, msg)
				}
				return
			}
			if !ok || line != tt.line || !strings.Contains(msg, tt.msg) {
				t.Errorf("= %d, %q, %v; want line %d, %q", line, msg, ok, tt.line, tt.msg)
			}
		})
	}
}
