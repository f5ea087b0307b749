package docker

import (
	"context"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
)

// BenchmarkWake measures the provider's part of a wake of the test
// container: Start until Status reports running, for each sleep mode. The
// put-to-sleep between iterations is not timed.
//
//	go test -run '^$' -bench Wake -benchtime 10x ./providers/docker/
func BenchmarkWake(b *testing.B) {
	cli, im := images.Images(b)
	for _, mode := range []string{SleepStop, SleepPause} {
		b.Run(mode, func(b *testing.B) {
			c := dockertest.Create(b, cli, dockertest.Spec{Image: im.Plain})
			p := newTestProvider(b, Options{Sleep: mode, StopTimeout: time.Second})
			tg := target(c.Name)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := p.Start(ctx, tg); err != nil {
				b.Fatal(err)
			}
			waitState(b, p, tg, controller.StateRunning, 10*time.Second)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if err := p.Stop(ctx, tg); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := p.Start(ctx, tg); err != nil {
					b.Fatal(err)
				}
				for {
					st, err := p.Status(ctx, tg)
					if err != nil {
						b.Fatal(err)
					}
					if st.State == controller.StateRunning {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
}
