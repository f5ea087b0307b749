package httpurl

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		in           string
		placeholders bool
		err          string // "" : accepted
	}{
		{"http://app:8080/healthz", false, ""},
		{"https://app.example.com", false, ""},
		{"http://{internal_ip}:8080/healthz", true, ""},
		{"http://{external_ip}/", true, ""},
		{"http://{internal_ip}:8080/", false, "placeholders like {internal_ip} are not allowed here"},
		{"http://{ip}/", true, "unknown placeholder {ip}"},
		{"http://app/{internal_ip}", true, "only in the host part"},
		{"/healthz", false, "is not an http:// or https:// URL"},
		{"ftp://app/", false, "is not an http:// or https:// URL"},
		{"http:///x", false, "has no host"},
		{"http://app:99999/", false, "is not a number from 1 to 65535"},
		{"http://app /", false, "contains a space"},
		{"http://app:8080/%zz", false, "is not a URL"},
	}
	for _, tt := range tests {
		err := Check(tt.in, tt.placeholders)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("Check(%q) = %v, want nil", tt.in, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("Check(%q) = %v, want %q", tt.in, err, tt.err)
		}
	}
}

func TestReasonDropsTheURL(t *testing.T) {
	for _, bad := range []string{"http://a b", "http://[::1"} {
		_, err := url.Parse(bad)
		if got := Reason(err); strings.Contains(got, bad) || got == "" {
			t.Errorf("Reason = %q, want url.Parse's reason without the URL", got)
		}
	}
	if got := Reason(errors.New("plain")); got != "plain" {
		t.Errorf("Reason(plain) = %q", got)
	}
}
