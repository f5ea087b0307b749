package redact

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://app:80/healthz", "http://app:80/healthz"},
		{"redis://:s3cret@redis:6379/0", "redis://:REDACTED@redis:6379/0"},
		{"https://alice:pa55@db.internal/x?y=1", "https://alice:REDACTED@db.internal/x?y=1"},
		{"https://user@host/", "https://user@host/"},
		{`Get "http://u:p@ss@host/x": EOF`, `Get "http://u:REDACTED@host/x": EOF`},
		{"postgres://a@corp:pw@db:5432/x", "postgres://a@corp:REDACTED@db:5432/x"},
		{"http://user@host:8080/p@th", "http://user@host:8080/p@th"},
		{"http://10.0.0.5:8080/ready?token=abc123&x=1", "http://10.0.0.5:8080/ready?token=REDACTED&x=1"},
		{`Get "http://h/ready?api_key=k1&sig=zz": connection refused`, `Get "http://h/ready?api_key=REDACTED&sig=REDACTED": connection refused`},
		{"start: exit status 1: mysqld --password=hunter2 failed", "start: exit status 1: mysqld --password=REDACTED failed"},
		{"PGPASSWORD=hunter2 psql", "PGPASSWORD=REDACTED psql"},
		{`sh -c PGPASSWORD="hunter 2" pg_dump; --token='t0k'`, `sh -c PGPASSWORD=REDACTED pg_dump; --token=REDACTED`},
		{`start: 401 {"error":"denied","api_token": "t0k\"en","password":"pw"}`, `start: 401 {"error":"denied","api_token": "REDACTED","password":"REDACTED"}`},
		{`exit status 1: backup --password hunter2 --user bob -token "t 0" --verbose`, `exit status 1: backup --password REDACTED --user bob -token REDACTED --verbose`},
		{"--password --verbose", "--password --verbose"},
		{"Authorization: Bearer abc.def-ghi", "Authorization: Bearer REDACTED"},
		{"basic YWxpY2U6cHc=", "basic REDACTED"},
		{"wake requested by 203.0.113.x (browser)", "wake requested by 203.0.113.x (browser)"},
		{"stopped from the admin API by token ci", "stopped from the admin API by token ci"},
		{"signal: killed", "signal: killed"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestArgs(t *testing.T) {
	in := []string{"sh", "-c", "backup --password hunter2 --key=k3y", "backup", "--password", "hunter2", "--user", "bob", "-token", "t0k", "--db=postgres://u:pw@db/x", "--secret-file=/run/s", "--verbose"}
	want := []string{"sh", "-c", "backup --password REDACTED --key=REDACTED", "backup", "--password", "REDACTED", "--user", "bob", "-token", "REDACTED", "--db=postgres://u:REDACTED@db/x", "--secret-file=REDACTED", "--verbose"}
	got := Args(in)
	if !slices.Equal(got, want) {
		t.Errorf("Args:\n got %q\nwant %q", got, want)
	}
	if in[5] != "hunter2" {
		t.Error("Args changed its input")
	}
	if Args(nil) != nil {
		t.Error("Args(nil) is not nil")
	}
}

// FuzzText: redaction never panics, is idempotent, and no secret planted
// in a URL password, a secret query parameter or a --password= flag
// survives, whatever surrounds it.
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "x", "http://a/b?c=d", "--password=", "redis://u:p@h", "Bearer x", "a=b&token=c", "\x00@=", "é://ü:ö@ä"} {
		f.Add(s, "s3cr3tV4lue")
	}
	f.Fuzz(func(t *testing.T, around, secret string) {
		once := Text(around)
		if Text(once) != once {
			t.Fatalf("not idempotent: %q → %q → %q", around, once, Text(once))
		}
		// A plantable secret: no separator the rule stops at.
		if len(secret) < 4 || strings.ContainsAny(secret, " \t\r\n&;,\"'<>/@:=\\") || strings.ContainsFunc(secret, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return
		}
		for _, planted := range []string{
			around + " redis://user:" + secret + "@h:6379/0 " + around,
			around + " http://h/ready?token=" + secret + "&x=" + around,
			around + " --password=" + secret + " " + around,
			// (a value starting with - would be the next flag)
			around + " --password z" + secret + " " + around,
			around + ` {"password": "` + secret + `"} ` + around,
			around + ` PGPASSWORD="` + secret + `" ` + around,
		} {
			if got := Text(planted); strings.Contains(got, secret) && !strings.Contains(around, secret) {
				t.Fatalf("secret %q survives in %q", secret, got)
			}
		}
	})
}

func TestHandlerHidesSecretsInLogs(t *testing.T) {
	var b strings.Builder
	log := slog.New(Handler(slog.NewTextHandler(&b, nil))).With("store", "redis://:pw1@r:6379/0")
	log.Info("probe failed: GET http://h/ready?token=tok2", "err", errors.New("exit 1: --password=pw3"),
		"argv", []string{"run", "--password", "pw4"}, slog.Group("g", "url", "https://u:pw5@h/"))
	out := b.String()
	for _, secret := range []string{"pw1", "tok2", "pw3", "pw4", "pw5"} {
		if strings.Contains(out, secret) {
			t.Errorf("%s logged: %s", secret, out)
		}
	}
	if !strings.Contains(out, "probe failed") || strings.Count(out, Placeholder) != 5 {
		t.Errorf("log line: %s", out)
	}
}
