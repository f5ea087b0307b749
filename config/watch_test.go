package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/logbuf"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/providers/kinds"
)

// registry returns a valid file registering the given hosts (exec).
func registry(hosts ...string) string {
	var b strings.Builder
	b.WriteString("providers:\n  exec: {}\nhosts:\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "  - {host: %s, provider: exec, start: [true], stop: [true]}\n", h)
	}
	return b.String()
}

func hostNames(c *Config) []string {
	var out []string
	for _, h := range c.Hosts() {
		out = append(out, h.Name)
	}
	return out
}

// harness runs a Watcher on a file and records what it applies.
type harness struct {
	t       *testing.T
	path    string
	w       *Watcher
	applied chan *Config
	logs    *logbuf.Buffer
}

// newHarness writes content to dir/config.yaml (or uses path when it is
// already set up), loads it, and starts Run.
func newHarness(t *testing.T, path, content string) *harness {
	t.Helper()
	if content != "" {
		writeFile(t, path, content)
	}
	h := &harness{t: t, path: path, applied: make(chan *Config, 16), logs: &logbuf.Buffer{}}
	log := slog.New(slog.NewTextHandler(h.logs, nil))
	h.w = NewWatcher(path, kinds.All(), log, func(c *Config) error { h.applied <- c; return nil })
	cfg, err := Load(path, kinds.All())
	if err != nil {
		t.Fatal(err)
	}
	h.w.SetCurrent(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context was cancelled")
		}
		if t.Failed() {
			t.Logf("watcher log:\n%s", h.logs.String())
		}
	})
	select {
	case <-h.w.watching:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not start watching")
	}
	return h
}

// next waits for the next applied configuration.
func (h *harness) next(within time.Duration) *Config {
	h.t.Helper()
	select {
	case c := <-h.applied:
		return c
	case <-time.After(within):
		h.t.Fatalf("nothing applied within %s", within)
		return nil
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherAppliesAnEditedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	h := newHarness(t, path, registry("a.example.com"))

	start := time.Now()
	writeFile(t, path, registry("a.example.com", "b.example.com"))
	cfg := h.next(2 * time.Second)
	took := time.Since(start)
	t.Logf("edit applied after %s", took)
	if got := hostNames(cfg); !slices.Equal(got, []string{"a.example.com", "b.example.com"}) {
		t.Fatalf("applied hosts %v", got)
	}
	if took > time.Second {
		t.Errorf("edit applied after %s; want well within 1s", took)
	}
	// Last reports a configuration once apply has returned.
	poll.Until(t, time.Second, "Last() returns the applied config", func() bool {
		last, err := h.w.Last()
		return last == cfg && err == nil
	})
	poll.Until(t, time.Second, "the reload log says which host was added", func() bool {
		return strings.Contains(h.logs.String(), "added=[b.example.com]")
	})
}

func TestWatcherAppliesRenameReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	h := newHarness(t, path, registry("a.example.com"))

	// What vim, many editors and config management tools do: write a new
	// file, rename it over the old one.
	tmp := filepath.Join(dir, ".config.yaml.swp")
	writeFile(t, tmp, registry("c.example.com"))
	start := time.Now()
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	cfg := h.next(2 * time.Second)
	t.Logf("rename applied after %s", time.Since(start))
	if got := hostNames(cfg); !slices.Equal(got, []string{"c.example.com"}) {
		t.Fatalf("applied hosts %v", got)
	}
	// The watch survives the replacement: a second edit is seen too.
	writeFile(t, path, registry("d.example.com"))
	if got := hostNames(h.next(2 * time.Second)); !slices.Equal(got, []string{"d.example.com"}) {
		t.Fatalf("second edit applied hosts %v", got)
	}
}

// TestWatcherFollowsConfigMapSwap: Kubernetes mounts a ConfigMap as
// config.yaml → ..data/config.yaml, ..data → ..<timestamp>/, and updates
// it by pointing ..data at a new directory.
func TestWatcherFollowsConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	mustDo := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	v1 := filepath.Join(dir, "..2026_01_01_00_00_00.1")
	mustDo(os.Mkdir(v1, 0o755))
	writeFile(t, filepath.Join(v1, "config.yaml"), registry("a.example.com"))
	mustDo(os.Symlink(filepath.Base(v1), filepath.Join(dir, "..data")))
	path := filepath.Join(dir, "config.yaml")
	mustDo(os.Symlink("..data/config.yaml", path))
	h := newHarness(t, path, "")

	v2 := filepath.Join(dir, "..2026_01_01_00_05_00.2")
	mustDo(os.Mkdir(v2, 0o755))
	writeFile(t, filepath.Join(v2, "config.yaml"), registry("a.example.com", "k8s.example.com"))
	mustDo(os.Symlink(filepath.Base(v2), filepath.Join(dir, "..data_tmp")))
	start := time.Now()
	mustDo(os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	mustDo(os.RemoveAll(v1))
	cfg := h.next(2 * time.Second)
	t.Logf("ConfigMap swap applied after %s", time.Since(start))
	if got := hostNames(cfg); !slices.Equal(got, []string{"a.example.com", "k8s.example.com"}) {
		t.Fatalf("applied hosts %v", got)
	}
}

// TestWatcherFollowsSymlinkTarget: when the path is a symlink to a file in
// another directory, editing the target is seen.
func TestWatcherFollowsSymlinkTarget(t *testing.T) {
	linkDir, realDir := t.TempDir(), t.TempDir()
	target := filepath.Join(realDir, "waitingroom.yaml")
	writeFile(t, target, registry("a.example.com"))
	path := filepath.Join(linkDir, "config.yaml")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, path, "")
	writeFile(t, target, registry("t.example.com"))
	if got := hostNames(h.next(2 * time.Second)); !slices.Equal(got, []string{"t.example.com"}) {
		t.Fatalf("applied hosts %v", got)
	}
}

func TestWatcherKeepsOldConfigOnBrokenEdit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	h := newHarness(t, path, registry("a.example.com"))
	good, _ := h.w.Last()

	writeFile(t, path, registry("a.example.com")+"  - {host: b.example.com, provider: dockr}\n")
	poll.Until(t, 2*time.Second, "the broken edit is reported by Last", func() bool {
		_, err := h.w.Last()
		return err != nil
	})
	cfg, err := h.w.Last()
	if cfg != good {
		t.Errorf("Last() config changed after a broken edit")
	}
	want := path + `:5: host "b.example.com" uses provider "dockr", which is not defined (defined: exec)`
	if err.Error() != want {
		t.Errorf("Last() error:\n%s\nwant:\n%s", err, want)
	}
	if !strings.Contains(h.logs.String(), "at="+path+":5") {
		t.Errorf("the problem is not logged with its line:\n%s", h.logs.String())
	}

	// Reload (SIGHUP, the dashboard button) returns the problems.
	err = h.w.Reload()
	var errs *Errors
	if !errors.As(err, &errs) || err.Error() != want {
		t.Errorf("Reload() = %v; want *Errors %q", err, want)
	}
	select {
	case c := <-h.applied:
		t.Fatalf("a broken file was applied: %v", hostNames(c))
	default:
	}

	// Fixing the file applies it and clears the error.
	writeFile(t, path, registry("a.example.com", "b.example.com"))
	if got := hostNames(h.next(2 * time.Second)); !slices.Equal(got, []string{"a.example.com", "b.example.com"}) {
		t.Fatalf("applied hosts %v", got)
	}
	poll.Until(t, time.Second, "Last() error cleared after the fix", func() bool { _, err := h.w.Last(); return err == nil })
}

// TestWatcherUndoingABrokenEdit: going back to the file in use clears the
// error without applying anything.
func TestWatcherUndoingABrokenEdit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	content := registry("a.example.com")
	h := newHarness(t, path, content)
	writeFile(t, path, "listen: [\n")
	poll.Until(t, 2*time.Second, "the broken edit is reported", func() bool { _, err := h.w.Last(); return err != nil })
	writeFile(t, path, content)
	poll.Until(t, 2*time.Second, "the error is cleared", func() bool { _, err := h.w.Last(); return err == nil })
	select {
	case c := <-h.applied:
		t.Errorf("the unchanged configuration was applied again: %v", hostNames(c))
	default:
	}
}

func TestWatcherDeletedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	h := newHarness(t, path, registry("a.example.com"))
	good, _ := h.w.Last()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 2*time.Second, "the missing file is reported", func() bool { _, err := h.w.Last(); return err != nil })
	if cfg, err := h.w.Last(); cfg != good || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Last() = %p, %v; want the old config and a not-exist error", cfg, err)
	}
	writeFile(t, path, registry("back.example.com"))
	if got := hostNames(h.next(2 * time.Second)); !slices.Equal(got, []string{"back.example.com"}) {
		t.Fatalf("applied hosts %v", got)
	}
}

// TestReloadWithoutChanges: a check of an unchanged file applies nothing;
// an explicit Reload applies it again.
func TestReloadWithoutChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, registry("a.example.com"))
	var applied int
	w := NewWatcher(path, kinds.All(), slog.New(slog.NewTextHandler(&logbuf.Buffer{}, nil)), func(*Config) error { applied++; return nil })
	if err := w.Reload(); err != nil || applied != 1 {
		t.Fatalf("first Reload: %v, applied %d", err, applied)
	}
	if err := w.reload(false); err != nil || applied != 1 {
		t.Fatalf("check of an unchanged file: %v, applied %d times", err, applied)
	}
	if err := w.Reload(); err != nil || applied != 2 {
		t.Fatalf("explicit Reload: %v, applied %d times", err, applied)
	}
}

// TestReloadThatCannotBeAppliedIsRefused: when applying a valid file
// fails (a provider cannot be built), the reload reports it and the
// configuration in use stays the one in use; it was recorded as applied,
// so /api/reload and SIGHUP said "reloaded" and Last showed a file that
// was not serving.
func TestReloadThatCannotBeAppliedIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, registry("a.example.com"))
	old, err := Load(path, kinds.All())
	if err != nil {
		t.Fatal(err)
	}
	fail := errors.New("provider \"docker\": cannot build")
	w := NewWatcher(path, kinds.All(), slog.New(slog.NewTextHandler(&logbuf.Buffer{}, nil)), func(*Config) error { return fail })
	w.SetCurrent(old)
	writeFile(t, path, registry("a.example.com", "b.example.com"))
	err = w.Reload()
	var errs *Errors
	if !errors.Is(err, fail) || !errors.As(err, &errs) {
		t.Fatalf("Reload = %v, want the apply error as *Errors", err)
	}
	cur, lastErr := w.Last()
	if cur != old || !errors.Is(lastErr, fail) {
		t.Errorf("Last = %v, %v; want the previous configuration and the apply error", hostNames(cur), lastErr)
	}
}

// TestRunAppliesWithoutSetCurrent: a watcher not told what is in use
// applies the file when it starts.
func TestRunAppliesWithoutSetCurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, registry("a.example.com"))
	applied := make(chan *Config, 1)
	w := NewWatcher(path, kinds.All(), slog.New(slog.NewTextHandler(&logbuf.Buffer{}, nil)), func(c *Config) error { applied <- c; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case c := <-applied:
		if got := hostNames(c); !slices.Equal(got, []string{"a.example.com"}) {
			t.Errorf("applied %v", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("nothing applied")
	}
}

func TestRunFailsOnMissingDirectory(t *testing.T) {
	w := NewWatcher(filepath.Join(t.TempDir(), "nope", "config.yaml"), kinds.All(), nil, func(*Config) error { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Run(ctx); err == nil {
		t.Fatal("Run watched a directory that does not exist")
	}
}

// TestWatcherRefusesAnEmptyFile: an editor saving in place truncates the
// file first; that moment must not unregister every host. Removing every
// host takes an explicit "hosts: []".
func TestWatcherRefusesAnEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	h := newHarness(t, path, registry("a.example.com"))
	good, _ := h.w.Last()
	for _, content := range []string{"", "\n  \n", "# just a comment\n"} {
		writeFile(t, path, content)
		poll.Until(t, 2*time.Second, fmt.Sprintf("the empty file %q is reported", content), func() bool {
			_, err := h.w.Last()
			return err != nil && strings.Contains(err.Error(), "has no settings")
		})
		if cfg, _ := h.w.Last(); cfg != good {
			t.Fatalf("an empty file %q replaced the configuration", content)
		}
		writeFile(t, path, registry("a.example.com"))
		poll.Until(t, 2*time.Second, "the error is cleared", func() bool { _, err := h.w.Last(); return err == nil })
	}
	writeFile(t, path, "hosts: []\n")
	if got := hostNames(h.next(2 * time.Second)); len(got) != 0 {
		t.Fatalf("hosts: [] applied hosts %v", got)
	}
}
