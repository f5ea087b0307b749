package main

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashPassword(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		stdin    string
		code     int
		password string // what the printed hash must match
		stderr   string
	}{
		{name: "line with newline", args: []string{"-cost", "4"}, stdin: "correct horse battery staple\n", password: "correct horse battery staple"},
		{name: "CRLF and no more lines read", args: []string{"-cost", "4"}, stdin: "s3cret-passw0rd!\r\nsecond line\n", password: "s3cret-passw0rd!"},
		{name: "no newline", args: []string{"-cost", "4"}, stdin: "tiny!", password: "tiny!", stderr: "shorter than 12"},
		{name: "empty", args: []string{"-cost", "4"}, stdin: "\n", code: 1, stderr: "no password"},
		{name: "nothing", args: []string{"-cost", "4"}, stdin: "", code: 1, stderr: "no password"},
		{name: "too long for bcrypt", args: []string{"-cost", "4"}, stdin: strings.Repeat("x", 73), code: 1, stderr: "at most 72"},
		{name: "password as an argument", args: []string{"hunter2"}, stdin: "", code: 2, stderr: "not from arguments"},
		{name: "bad cost", args: []string{"-cost", "99"}, stdin: "x\n", code: 2, stderr: "-cost 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(t.Context(), append([]string{"hash-password"}, tt.args...), strings.NewReader(tt.stdin), &out, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tt.stderr)
			}
			if tt.code != 0 {
				if out.Len() != 0 {
					t.Errorf("stdout %q on failure", out.String())
				}
				return
			}
			hash := strings.TrimSuffix(out.String(), "\n")
			if strings.Contains(hash, "\n") || !strings.HasPrefix(hash, "$2a$04$") {
				t.Fatalf("stdout %q, want one bcrypt hash of cost 4", out.String())
			}
			if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(tt.password)); err != nil {
				t.Errorf("hash does not match %q: %v", tt.password, err)
			}
			if strings.Contains(errOut.String(), tt.password) {
				t.Error("the password was echoed on stderr")
			}
		})
	}
}

func TestHashPasswordDefaultCost(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := hashPassword(nil, strings.NewReader("a long enough password\n"), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if cost, err := bcrypt.Cost(bytes.TrimSpace(out.Bytes())); err != nil || cost != defaultBcryptCost {
		t.Errorf("cost %d (%v), want %d", cost, err, defaultBcryptCost)
	}
}
