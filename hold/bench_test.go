package hold_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
)

// BenchmarkForward measures a request through the Holder to a backend that
// is already running (admission, body buffering, wake check, forward),
// client and servers on loopback. Compare with BenchmarkDirect.
func BenchmarkForward(b *testing.B) {
	e := newEnv(b, envOptions{running: true, quietLogs: true})
	benchmarkEcho(b, e, e.front.URL)
}

// BenchmarkDirect is the same request sent straight to the backend.
func BenchmarkDirect(b *testing.B) {
	e := newEnv(b, envOptions{running: true, quietLogs: true})
	benchmarkEcho(b, e, e.backend.URL)
}

// BenchmarkPlainProxy is the same request through a bare
// httputil.ReverseProxy: what the extra hop costs by itself, so
// BenchmarkForward minus this is the Holder's own share.
func BenchmarkPlainProxy(b *testing.B) {
	e := newEnv(b, envOptions{running: true, quietLogs: true})
	backend, err := url.Parse(e.backend.URL)
	if err != nil {
		b.Fatal(err)
	}
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(backend)
		pr.Out.Host = pr.In.Host
	}})
	b.Cleanup(proxy.Close)
	benchmarkEcho(b, e, proxy.URL)
}

func benchmarkEcho(b *testing.B, e *env, base string) {
	body := []byte(`{"event":"push","ref":"refs/heads/main","size":1}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/hook", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Host = testHost
		status, _, got, err := e.do(req)
		if err != nil || status != http.StatusOK || !bytes.Equal(got, body) {
			b.Fatalf("status %d, err %v, body %q", status, err, got)
		}
	}
}
