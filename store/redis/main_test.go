package redisstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// discard silences go-redis's own logger, which reports every failed dial
// of the fault tests on stderr; the tests check the errors themselves.
type discard struct{}

func (discard) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(discard{})
	os.Exit(m.Run())
}
