package bench

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testWriter sends the harness's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestHarnessSmoke runs every scenario tiny and fails when one of them
// cannot run or breaks a behavioural target (one start per stampede, every
// request answered). It never judges speed: CI machines vary.
func TestHarnessSmoke(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		const hint = "redis-server not found on PATH: install it with `apt-get install -y redis-server`"
		if os.Getenv("CI") == "true" {
			t.Fatal(hint)
		}
		t.Skip(hint)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Smoke: true, Progress: testWriter{t}})
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Logf("\n%s", rep.Table())
	seen := map[string]bool{}
	for _, r := range rep.Rows {
		id, _, _ := strings.Cut(r.Scenario, " ")
		seen[id] = true
		switch {
		case r.Verdict == Failed:
			t.Errorf("scenario %q failed: %s", r.Scenario, r.Measured)
		case r.Correctness && r.Verdict != Pass:
			t.Errorf("scenario %q broke its target %q: %s", r.Scenario, r.Target, r.Measured)
		}
	}
	for _, s := range scenarios() {
		if !seen[s.id] {
			t.Errorf("scenario %s (%s) produced no row", s.id, s.name)
		}
	}
	md := rep.Markdown()
	for _, want := range []string{"| scenario | target | measured | baseline | ratio | verdict |", "Smoke run", "Machine:"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestWriteMarkdownKeepsTextOutsideMarkers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	rep := &Report{Started: time.Now(), Command: "scripts/bench", Rows: []Row{{Scenario: "1 x", Verdict: Pass}}}
	if err := rep.WriteMarkdown(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	edited := strings.Replace(string(b), beginMarker, "## Findings\n\nwritten by hand\n\n"+beginMarker, 1) + "\nafter\n"
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	rep.Rows[0].Scenario = "1 y"
	if err := rep.WriteMarkdown(path); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	got := string(b)
	for _, want := range []string{"written by hand", "\nafter\n", "| 1 y |"} {
		if !strings.Contains(got, want) {
			t.Errorf("after rewrite, lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "| 1 x |") || strings.Count(got, beginMarker) != 1 {
		t.Errorf("old table kept or duplicated:\n%s", got)
	}
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		status int
		keep   bool
		rest   string // what must be left unread: the next response
	}{
		{"content length", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nhelloNEXT", 503, true, "NEXT"},
		{"empty body", "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\nNEXT", 200, true, "NEXT"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\n\r\nNEXT", 200, true, "NEXT"},
		{"connection close", "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 2\r\n\r\nnoNEXT", 404, false, "NEXT"},
		{"until EOF", "HTTP/1.1 200 OK\r\n\r\nall of it", 200, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tc.raw))
			status, keep, err := readResponse(br)
			if err != nil || status != tc.status || keep != tc.keep {
				t.Fatalf("readResponse = %d, %v, %v; want %d, %v", status, keep, err, tc.status, tc.keep)
			}
			rest, _ := br.ReadString(0)
			if rest != tc.rest {
				t.Errorf("left %q unread, want %q", rest, tc.rest)
			}
		})
	}
	if _, _, err := readResponse(bufio.NewReader(strings.NewReader("SSH-2.0-OpenSSH\r\n"))); err == nil {
		t.Error("a non-HTTP answer was accepted")
	}
}

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkSweepIdle/memory-2   	      67	  17760216 ns/op	     10000 hosts	 1925120 B/op	       1 allocs/op
BenchmarkParseHost/[2001:db8::1]:443-16 	 5000000	       243.1 ns/op	      16 B/op	       1 allocs/op
BenchmarkBroken-2 	 --- FAIL
PASS
`
	res := parseBench(out)
	if r := res["BenchmarkSweepIdle/memory"]; r.N != 67 || r.Metrics["ns/op"] != 17760216 || r.Metrics["hosts"] != 10000 || r.Metrics["allocs/op"] != 1 {
		t.Errorf("sweep = %+v", r)
	}
	if r := res["BenchmarkParseHost/[2001:db8::1]:443"]; r.Metrics["ns/op"] != 243.1 || r.Metrics["B/op"] != 16 {
		t.Errorf("parse host = %+v", r)
	}
	if len(res) != 2 {
		t.Errorf("parsed %d results, want 2: %v", len(res), res)
	}
}

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p := percentiles(ds)
	if p.N != 100 || p.P50 != 50*time.Millisecond || p.P99 != 99*time.Millisecond || p.Max != 100*time.Millisecond {
		t.Errorf("percentiles = %+v", p)
	}
	if (percentiles(nil) != Percentiles{}) {
		t.Error("percentiles of nothing are not zero")
	}
}
