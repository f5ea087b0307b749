package config

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/waitingroom/waitingroom/providers"
)

// Watcher keeps a configuration current while the process runs: it reloads
// the file when it changes on disk (Run) or when asked (Reload, on SIGHUP or
// from the dashboard). A file that fails validation is logged with all its
// problems and not applied: the previous configuration keeps serving.
//
// Typical use, when the caller has loaded and applied the file itself:
//
//	cfg, err := config.Load(path) // exit 1 on err
//	... build everything from cfg ...
//	w := config.NewWatcher(path, log, apply)
//	w.SetCurrent(cfg)
//	go w.Run(ctx)
//
// Without SetCurrent, Run applies the file once when it starts.
type Watcher struct {
	path  string
	kinds providers.Kinds
	log   *slog.Logger
	apply func(*Config) error

	// debounce collects the burst of events one save makes (an editor's
	// write, chmod, rename) into one reload.
	debounce time.Duration
	// poll re-reads the file now and then, for file systems where change
	// events do not arrive (some network and container mounts). A read of
	// an unchanged file costs a hash, not a parse.
	poll time.Duration

	reloadMu sync.Mutex // serialises reloads, so applies happen in order

	mu       sync.Mutex
	last     *Config
	lastErr  error
	rejected string // digest of the last file refused, not to log it again

	// watching is closed once Run watches the directory (tests wait on it).
	watching chan struct{}
	once     sync.Once
}

// NewWatcher returns a watcher of the file at path. apply receives each new
// valid configuration, one at a time, in order; it must not call Reload.
// When apply fails, having changed nothing, the file is refused like an
// invalid one and the configuration in use stays in use.
func NewWatcher(path string, kinds providers.Kinds, log *slog.Logger, apply func(*Config) error) *Watcher {
	if log == nil {
		log = slog.Default()
	}
	return &Watcher{path: path, kinds: kinds, log: log, apply: apply, debounce: 100 * time.Millisecond, poll: 5 * time.Second,
		watching: make(chan struct{})}
}

// SetCurrent records cfg as the configuration in use, loaded and applied
// by the caller: Run then applies only what differs from it.
func (w *Watcher) SetCurrent(cfg *Config) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last, w.lastErr, w.rejected = cfg, nil, ""
}

// Last returns the configuration in use (nil before the first successful
// load) and the error of the latest reload attempt (nil when it succeeded).
func (w *Watcher) Last() (cfg *Config, lastErr error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.lastErr
}

// Reload reads and validates the file now and applies it when valid, even
// if it did not change. On failure it returns the problems (an *Errors)
// and the previous configuration stays in use.
func (w *Watcher) Reload() error {
	w.reloadMu.Lock()
	defer w.reloadMu.Unlock()
	return w.reload(true)
}

// errInFlux: the file changed while it was read; the next event or the
// debounce brings the watcher back once it is complete.
var errInFlux = errors.New("the file changed while being read")

// reload loads the file and applies it when valid. Unless forced, a file
// identical to the one in use, or to the one last refused, is left alone,
// and so is a file caught while being written. The caller holds reloadMu.
func (w *Watcher) reload(force bool) error {
	data, stable, err := readStable(w.path)
	if err != nil {
		// Between an editor's delete and create the file is briefly
		// missing; the create's event brings us back here.
		p := &problems{file: w.path}
		p.addCause(0, err, "cannot read the configuration: %v", err)
		err := p.err()
		w.refuse("", err)
		return err
	}
	if !stable && !force {
		return errInFlux
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	w.mu.Lock()
	prev, rejected := w.last, w.rejected
	if !force && prev != nil && prev.Digest == digest {
		w.lastErr = nil // back to the file in use (a broken edit undone)
		w.rejected = ""
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	if !force && digest == rejected {
		return nil
	}
	cfg, err := Parse(w.path, data, w.kinds)
	if err == nil && cfg.empty && prev != nil {
		// Editors that save in place truncate the file first: an empty
		// file seen on reload is far more likely half-written than meant
		// to remove every host, so it is not applied.
		p := &problems{file: w.path}
		p.add(0, "the file has no settings (is it being written?); to remove every host, write \"hosts: []\"")
		err = p.err()
	}
	if err == nil {
		if aerr := w.apply(cfg); aerr != nil {
			p := &problems{file: w.path}
			p.addCause(0, aerr, "cannot be applied: %v", aerr)
			err = p.err()
		}
	}
	if err != nil {
		w.refuse(digest, err)
		return err
	}
	w.mu.Lock()
	w.last, w.lastErr, w.rejected = cfg, nil, ""
	w.mu.Unlock()
	w.logApplied(prev, cfg)
	return nil
}

// readStable reads the file and reports whether it stayed the same
// (size, modification time) while it was read.
func readStable(path string) (data []byte, stable bool, err error) {
	before, err := os.Stat(path)
	if err != nil {
		return nil, false, err
	}
	data, err = readLimited(path)
	if err != nil {
		return nil, false, err
	}
	after, err := os.Stat(path)
	if err != nil {
		return nil, false, err
	}
	stable = before.Size() == after.Size() && before.ModTime().Equal(after.ModTime()) && int64(len(data)) == after.Size()
	return data, stable, nil
}

func (w *Watcher) refuse(digest string, err error) {
	w.mu.Lock()
	w.lastErr, w.rejected = err, digest
	keeping := w.last != nil
	w.mu.Unlock()
	msg := "configuration rejected; keeping the one in use"
	if !keeping {
		msg = "configuration rejected"
	}
	var errs *Errors
	if errors.As(err, &errs) {
		for _, e := range errs.List {
			w.log.Error("configuration problem", "at", position(e), "problem", e.Msg)
		}
		w.log.Error(msg, "file", w.path, "problems", len(errs.List))
		return
	}
	w.log.Error(msg, "file", w.path, "err", err)
}

func position(e Error) string {
	if e.Line <= 0 {
		return e.File
	}
	return fmt.Sprintf("%s:%d", e.File, e.Line)
}

// logApplied says what a reload changed, host by host.
func (w *Watcher) logApplied(prev, cfg *Config) {
	if prev == nil {
		w.log.Info("configuration loaded", "file", cfg.Path, "hosts", len(cfg.File.Hosts), "providers", len(cfg.File.Providers))
		return
	}
	old := map[string]Host{}
	for _, h := range prev.File.Hosts {
		old[h.Host] = h
	}
	var added, changed, removed []string
	for _, h := range cfg.File.Hosts {
		o, ok := old[h.Host]
		switch {
		case !ok:
			added = append(added, h.Host)
		case !reflect.DeepEqual(o, h):
			changed = append(changed, h.Host)
		}
		delete(old, h.Host)
	}
	for _, h := range prev.File.Hosts {
		if _, gone := old[h.Host]; gone {
			removed = append(removed, h.Host)
		}
	}
	w.log.Info("configuration reloaded", "file", cfg.Path, "hosts", len(cfg.File.Hosts),
		"added", added, "changed", changed, "removed", removed)
}

// Run watches the file until ctx is done, reloading on every change. It
// watches the file's directory rather than the file, so that the ways
// files are replaced are all seen: editors that write a new file and
// rename it over the old one, and Kubernetes ConfigMap volumes, which swap
// a symlink. When the path is a symlink, the target's directory is watched
// too. The file is also checked once at start, catching edits made between
// the first Reload and Run.
func (w *Watcher) Run(ctx context.Context) error {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", w.path, err)
	}
	defer fsw.Close()
	if err := w.syncDirs(fsw); err != nil {
		return fmt.Errorf("watch %s: %w", w.path, err)
	}
	w.once.Do(func() { close(w.watching) })

	// The first check goes through the debounce too, so that a write in
	// progress as Run starts is read once complete.
	debounce := time.NewTimer(w.debounce)
	defer debounce.Stop()
	poll := time.NewTicker(w.poll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-fsw.Events:
			if !ok {
				return fmt.Errorf("watch %s: event stream closed", w.path)
			}
			// Any event in the directory may concern the file (the
			// ConfigMap swap renames "..data", not the file); the
			// reload compares contents, so a spurious check is cheap.
			debounce.Reset(w.debounce)
		case err, ok := <-fsw.Errors:
			if !ok {
				return fmt.Errorf("watch %s: error stream closed", w.path)
			}
			w.log.Warn("watching the configuration file", "file", w.path, "err", err)
		case <-debounce.C:
			if w.check(fsw) {
				debounce.Reset(w.debounce)
			}
		case <-poll.C:
			if w.check(fsw) {
				debounce.Reset(w.debounce)
			}
		}
	}
}

// check reloads when the file changed, and follows a symlink that now
// points elsewhere. It reports whether to look again soon (the file was
// being written).
func (w *Watcher) check(fsw *fsnotify.Watcher) (again bool) {
	if err := w.syncDirs(fsw); err != nil {
		w.log.Warn("watching the configuration directory", "file", w.path, "err", err)
	}
	w.reloadMu.Lock()
	defer w.reloadMu.Unlock()
	// Other errors are logged by reload, and Last reports them.
	return errors.Is(w.reload(false), errInFlux)
}

// syncDirs watches the directories the file's path goes through: its own
// and, when it is a symlink, its target's. A directory removed and made
// again (its watch ended with it) is watched again.
func (w *Watcher) syncDirs(fsw *fsnotify.Watcher) error {
	abs, err := filepath.Abs(w.path)
	if err != nil {
		return err
	}
	want := map[string]bool{filepath.Dir(abs): true}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		want[filepath.Dir(real)] = true
	}
	watched := map[string]bool{}
	for _, dir := range fsw.WatchList() {
		watched[dir] = true
	}
	var firstErr error
	for dir := range want {
		if watched[dir] {
			continue
		}
		if err := fsw.Add(dir); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for dir := range watched {
		if !want[dir] {
			_ = fsw.Remove(dir) // may be gone already
		}
	}
	return firstErr
}
