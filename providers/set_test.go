package providers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

// fakeProvider records whether it was closed and, as a Watcher, whether
// its event stream runs.
type fakeProvider struct {
	name     string
	closed   atomic.Bool
	watching atomic.Int32
	// closedWhileWatching: Close came before the stream returned.
	closedWhileWatching atomic.Bool
	hosts               []controller.Host
	discoverFails       atomic.Bool // Discover answers an error (engine down)
}

func (f *fakeProvider) Start(context.Context, controller.Target) error { return nil }
func (f *fakeProvider) Stop(context.Context, controller.Target) error  { return nil }
func (f *fakeProvider) Status(context.Context, controller.Target) (controller.Status, error) {
	return controller.Status{}, nil
}

func (f *fakeProvider) Close() error {
	if f.watching.Load() > 0 {
		f.closedWhileWatching.Store(true)
	}
	f.closed.Store(true)
	return nil
}

func (f *fakeProvider) Watch(ctx context.Context, targets func() []controller.Target, observe func(controller.Target, controller.Status)) error {
	f.watching.Add(1)
	defer f.watching.Add(-1)
	<-ctx.Done()
	return ctx.Err()
}

func (f *fakeProvider) Discover(context.Context) ([]controller.Host, error) {
	if f.discoverFails.Load() {
		return nil, errors.New("engine unreachable")
	}
	return f.hosts, nil
}

type builder struct {
	mu    sync.Mutex
	built []*fakeProvider
	fail  string // a name whose build fails
	hosts []controller.Host
}

func (b *builder) build(_ context.Context, name string, _ Spec) (controller.Provider, error) {
	if name == b.fail {
		return nil, errors.New("cannot build")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p := &fakeProvider{name: name, hosts: b.hosts}
	b.built = append(b.built, p)
	return p, nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type nopObserver struct{}

func (nopObserver) ObserveEvent(string, controller.Status) {}

func TestApplyReusesUnchangedAndClosesReplacedAfterRetire(t *testing.T) {
	b := &builder{}
	s := NewSet(SetOptions{Build: b.build, Logger: quiet()})
	first, err := s.Apply(t.Context(), map[string]Spec{"a": {Settings: 1}, "b": {Settings: 1}, "c": {Settings: 1}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Apply(t.Context(), map[string]Spec{"a": {Settings: 1}, "b": {Settings: 2}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		reused       bool
		closedBefore bool // closed before Retire
		closedAfter  bool
	}{
		{"a", true, false, false}, // unchanged: the same client
		{"b", false, false, true}, // settings changed: rebuilt, the old one closed
		{"c", false, false, true}, // removed: closed
	}
	for _, tt := range tests {
		old := first[tt.name].(*fakeProvider)
		if reused := second[tt.name] == first[tt.name]; reused != tt.reused {
			t.Errorf("%s: reused %v, want %v", tt.name, reused, tt.reused)
		}
		if old.closed.Load() != tt.closedBefore {
			t.Errorf("%s: closed before Retire: %v", tt.name, old.closed.Load())
		}
	}
	s.Retire()
	for _, tt := range tests {
		if old := first[tt.name].(*fakeProvider); old.closed.Load() != tt.closedAfter {
			t.Errorf("%s: closed after Retire: %v, want %v", tt.name, old.closed.Load(), tt.closedAfter)
		}
	}
	s.Close()
	for name, p := range second {
		if !p.(*fakeProvider).closed.Load() {
			t.Errorf("%s not closed at shutdown", name)
		}
	}
}

func TestApplyFailureChangesNothing(t *testing.T) {
	b := &builder{}
	s := NewSet(SetOptions{Build: b.build, Logger: quiet()})
	before, err := s.Apply(t.Context(), map[string]Spec{"a": {Settings: 1}})
	if err != nil {
		t.Fatal(err)
	}
	b.fail = "z"
	if _, err := s.Apply(t.Context(), map[string]Spec{"a": {Settings: 2}, "z": {Settings: 1}}); err == nil {
		t.Fatal("Apply succeeded with a provider that cannot be built")
	}
	s.Retire()
	again, err := s.Apply(t.Context(), map[string]Spec{"a": {Settings: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if again["a"] != before["a"] || before["a"].(*fakeProvider).closed.Load() {
		t.Error("a failed Apply replaced or closed the running provider")
	}
	if !b.built[1].closed.Load() {
		t.Error("the provider built by the failed Apply was not closed")
	}
}

// A provider replaced on reload ends its event stream before its client
// is closed, and its successor's stream starts: two streams never observe
// the same targets.
func TestReplacedProviderStreamEndsAndSuccessorWatches(t *testing.T) {
	b := &builder{}
	s := NewSet(SetOptions{Build: b.build, Logger: quiet()})
	first, err := s.Apply(t.Context(), map[string]Spec{"d": {Settings: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, func(string) []controller.Target { return nil }, nopObserver{}) }()
	old := first["d"].(*fakeProvider)
	poll.Until(t, 5*time.Second, "the first stream", func() bool { return old.watching.Load() == 1 })

	second, err := s.Apply(t.Context(), map[string]Spec{"d": {Settings: 2}})
	if err != nil {
		t.Fatal(err)
	}
	s.Retire()
	next := second["d"].(*fakeProvider)
	if old.watching.Load() != 0 || !old.closed.Load() || old.closedWhileWatching.Load() {
		t.Errorf("old provider: watching %d, closed %v, closed while watching %v", old.watching.Load(), old.closed.Load(), old.closedWhileWatching.Load())
	}
	poll.Until(t, 5*time.Second, "the successor's stream", func() bool { return next.watching.Load() == 1 })

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
	if next.watching.Load() != 0 {
		t.Error("Watch returned with a stream still running")
	}
	s.Close()
}

func TestDiscoverAddsLabelHostsWithDefaultsFileWins(t *testing.T) {
	b := &builder{hosts: []controller.Host{{Name: "file.example.com", Origin: "labels"}, {Name: "label.example.com", Origin: "labels"}}}
	merge := func(file, found []controller.Host) ([]controller.Host, []string) {
		out := append([]controller.Host(nil), file...)
		var conflicts []string
		for _, h := range found {
			if h.Name == "file.example.com" {
				conflicts = append(conflicts, h.Name)
				continue
			}
			out = append(out, h)
		}
		return out, conflicts
	}
	s := NewSet(SetOptions{Build: b.build, Logger: quiet(), Merge: merge})
	if _, err := s.Apply(t.Context(), map[string]Spec{"labels": {Labels: true}, "nolabels": {}}); err != nil {
		t.Fatal(err)
	}
	defaults := func(h controller.Host) controller.Host { h.IdleTimeout = time.Minute; return h }
	got := s.Discover(t.Context(), []controller.Host{{Name: "file.example.com", Origin: "file"}}, defaults)
	tests := []struct {
		name, origin string
		idle         time.Duration
	}{{"file.example.com", "file", 0}, {"label.example.com", "labels", time.Minute}}
	if len(got) != len(tests) {
		t.Fatalf("hosts %v, want %d (one provider without labels: its hosts ignored)", got, len(tests))
	}
	for i, tt := range tests {
		if got[i].Name != tt.name || got[i].Origin != tt.origin || got[i].IdleTimeout != tt.idle {
			t.Errorf("host %d = %+v, want %+v", i, got[i], tt)
		}
	}
	if !s.Labels() {
		t.Error("Labels() false with a labels provider")
	}
}

// A provider that cannot list for a moment (engine restarting, a slow
// answer) must not take its label hosts out of the registry: visitors
// waiting on them would get "no site is registered" until the next
// rediscovery. Its last answer stands until it answers again; a rebuilt
// provider starts afresh.
func TestDiscoverKeepsLastHostsWhileProviderCannotList(t *testing.T) {
	b := &builder{hosts: []controller.Host{{Name: "label.example.com", Origin: "labels"}}}
	merge := func(file, found []controller.Host) ([]controller.Host, []string) {
		return append(append([]controller.Host(nil), file...), found...), nil
	}
	s := NewSet(SetOptions{Build: b.build, Logger: quiet(), Merge: merge})
	defer s.Close()
	if _, err := s.Apply(t.Context(), map[string]Spec{"labels": {Labels: true, Settings: 1}}); err != nil {
		t.Fatal(err)
	}
	same := func(h controller.Host) controller.Host { return h }
	if got := s.Discover(t.Context(), nil, same); len(got) != 1 {
		t.Fatalf("engine up: hosts %v, want label.example.com", got)
	}
	b.built[0].discoverFails.Store(true)
	if got := s.Discover(t.Context(), nil, same); len(got) != 1 || got[0].Name != "label.example.com" {
		t.Errorf("engine down for a moment: hosts %v, want label.example.com kept", got)
	}
	// Settings changed: the new provider has not listed anything yet.
	if _, err := s.Apply(t.Context(), map[string]Spec{"labels": {Labels: true, Settings: 2}}); err != nil {
		t.Fatal(err)
	}
	s.Retire()
	b.built[1].discoverFails.Store(true)
	if got := s.Discover(t.Context(), nil, same); len(got) != 0 {
		t.Errorf("rebuilt provider that cannot list: hosts %v, want none (the old one's answer is not its own)", got)
	}
}

// Rediscover refreshes the registry only while some provider registers
// hosts from labels.
func TestRediscoverOnlyWithLabels(t *testing.T) {
	tests := []struct {
		name   string
		labels bool
		want   bool
	}{{"labels", true, true}, {"no labels", false, false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSet(SetOptions{Build: (&builder{}).build, Logger: quiet()})
			if _, err := s.Apply(t.Context(), map[string]Spec{"p": {Labels: tt.labels}}); err != nil {
				t.Fatal(err)
			}
			var n atomic.Int32
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			_ = s.Rediscover(ctx, 10*time.Millisecond, func(context.Context) { n.Add(1) })
			if got := n.Load() > 0; got != tt.want {
				t.Errorf("refreshed %d times, want refreshes: %v", n.Load(), tt.want)
			}
		})
	}
}
