package logbuf_test

import (
	"testing"

	"github.com/waitingroom/waitingroom/internal/testutil/logbuf"
)

func TestBuffer(t *testing.T) {
	tests := []struct {
		name     string
		max      int
		writes   []string
		want     string
		wantTail string // Tail(3)
	}{
		{"keeps everything without Max", 0, []string{"abc", "def"}, "abcdef", "…def"},
		{"drops what was kept once over Max", 4, []string{"abc", "de", "f"}, "f", "f"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &logbuf.Buffer{Max: tc.max}
			for _, w := range tc.writes {
				if _, err := b.Write([]byte(w)); err != nil {
					t.Fatal(err)
				}
			}
			if got := b.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			if got := b.Tail(3); got != tc.wantTail {
				t.Errorf("Tail(3) = %q, want %q", got, tc.wantTail)
			}
		})
	}
}
