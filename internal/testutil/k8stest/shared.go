package k8stest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Shared is one control plane per test binary (~5 s to start, ~500 MB):
// declare one in the test package, call Cluster in tests and Close from
// TestMain after m.Run. Each test works in its own Namespace.
type Shared struct {
	mu      sync.Mutex
	started bool
	c       *Cluster
	err     error
}

// Cluster returns the shared control plane, starting it on first use. It
// ends the test (skip or fail, see Require) when the binaries are missing.
func (s *Shared) Cluster(tb testing.TB) *Cluster {
	tb.Helper()
	bin := Require(tb)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		s.c, s.err = Start(context.Background(), bin)
	}
	if s.err != nil {
		tb.Fatalf("starting the kubernetes control plane: %v", s.err)
	}
	return s.c
}

// Close stops the control plane if it was started.
func (s *Shared) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
}

// Namespace creates a namespace for this test, waits for its default
// service account (pods need it to be admitted) and deletes it when the
// test ends.
func (c *Cluster) Namespace(tb testing.TB) string {
	tb.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "t-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("create namespace: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	if err := c.waitFor(ctx, fmt.Sprintf("service account default in %s", name), func() error {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	return name
}
