package dockerengine

import "testing"

func TestRefMatches(t *testing.T) {
	const id = "4f2a9c0d1e7b6a5f4f2a9c0d1e7b6a5f4f2a9c0d1e7b6a5f4f2a9c0d1e7b6a5f"
	tests := []struct {
		ref  string
		want bool
	}{
		{"app", true},
		{"/app", true},
		{"other", false},
		{id, true},
		{id[:12], true},
		{"4f2a9c0d1e7c", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := RefMatches(tc.ref, "app", id); got != tc.want {
			t.Errorf("RefMatches(%q) = %v, want %v", tc.ref, got, tc.want)
		}
	}
}
