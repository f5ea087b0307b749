package redisstore

import (
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
)

// BenchmarkCompareAndSwapReplicated prices what waitingroom does not do:
// following each state change with WAIT 1 (return only once the replica
// has the write), against the compare-and-set alone, on a primary with one
// replica found through Sentinel (docs/operations.md says why it is not
// done). The WAIT rides in the same pipeline, so it costs the replica's
// acknowledgement, not another round trip.
func BenchmarkCompareAndSwapReplicated(b *testing.B) {
	top := redistest.StartTopology(b)
	s, err := New(b.Context(), "redis://"+redistest.MasterName+"/0", WithPrefix("bench:"),
		WithLogger(slog.New(slog.DiscardHandler)),
		WithSentinel(Sentinel{Master: redistest.MasterName, Addrs: top.SentinelAddrs()}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	rec := controller.Record{Host: "app.example.com", State: controller.StateRunning, Changed: time.Now()}
	version := uint64(0)
	cas := func(b *testing.B) {
		if _, ok, err := s.CompareAndSwap(b.Context(), version, rec); err != nil || !ok {
			b.Fatalf("CAS at version %d: %v %v", version, ok, err)
		}
		version++
	}
	b.Run("cas", func(b *testing.B) {
		for b.Loop() {
			cas(b)
		}
	})
	b.Run("cas+WAIT_1", func(b *testing.B) {
		cas(b) // loads the script for EVALSHA
		ctx := b.Context()
		keys := []string{s.hostKey(rec.Host), s.hostsKey()}
		for b.Loop() {
			args := append([]any{strconv.FormatUint(version, 10), rec.Host}, encodeState(rec)...)
			p := s.client.Pipeline()
			casScript.EvalSha(ctx, p, keys, args...)
			wait := p.Do(ctx, "WAIT", 1, 1000) // one replica, at most 1 s
			if _, err := p.Exec(ctx); err != nil {
				b.Fatal(err)
			}
			if n, _ := wait.Int64(); n != 1 {
				b.Fatalf("WAIT 1 = %d replicas", n)
			}
			version++
		}
	})
}
