package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSecretFromFileOrEnvironment(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(file, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SENTINEL_PW": "fr0m-env"}
	tests := []struct {
		name, file, env, want, wantErr string
	}{
		{name: "none"},
		{name: "file", file: file, want: "s3cret"},
		{name: "env", env: "SENTINEL_PW", want: "fr0m-env"},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: "password_file: open"},
		{name: "empty file", file: empty, wantErr: "is empty"},
		{name: "unset env", env: "UNSET_PW", wantErr: "password_env UNSET_PW is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readSecret(tt.file, tt.env, func(k string) string { return env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("readSecret = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
