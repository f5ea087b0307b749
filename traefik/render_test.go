package traefik

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestYAMLMatchesGolden(t *testing.T) {
	for _, s := range scenarios() {
		t.Run(s.name, func(t *testing.T) {
			got, err := YAML(generate(t, s))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", s.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run `go test ./traefik -run TestYAMLMatchesGolden -update` to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("YAML differs from %s (rerun with -update if the change is intended):\n--- got\n%s", path, got)
			}
		})
	}
}

func TestRenderingIsDeterministic(t *testing.T) {
	for _, s := range scenarios() {
		t.Run(s.name, func(t *testing.T) {
			firstY, _ := YAML(generate(t, s))
			firstJ, _ := JSON(generate(t, s))
			for i := range 20 {
				// A fresh Generate each time: map iteration order differs
				// between runs, the output must not.
				y, err := YAML(generate(t, s))
				if err != nil {
					t.Fatal(err)
				}
				j, err := JSON(generate(t, s))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(y, firstY) || !bytes.Equal(j, firstJ) {
					t.Fatalf("render %d differs from the first", i)
				}
			}
		})
	}
}

func TestJSONAndYAMLAreEquivalent(t *testing.T) {
	for _, s := range scenarios() {
		t.Run(s.name, func(t *testing.T) {
			cfg := generate(t, s)
			y, err := YAML(cfg)
			if err != nil {
				t.Fatal(err)
			}
			j, err := JSON(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var fromY, fromJ any
			if err := yaml.Unmarshal(y, &fromY); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(j, &fromJ); err != nil {
				t.Fatal(err)
			}
			// Through encoding/json, YAML's ints and JSON's float64s
			// print alike and keys sort alike.
			cy, _ := json.Marshal(fromY)
			cj, _ := json.Marshal(fromJ)
			if !bytes.Equal(cy, cj) {
				t.Errorf("YAML and JSON differ:\nyaml: %s\njson: %s", cy, cj)
			}
			// Nothing is lost on the way out.
			var back Config
			if err := json.Unmarshal(j, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, cfg) {
				t.Errorf("JSON round trip lost something:\n got %+v\nwant %+v", back, cfg)
			}
		})
	}
}

func TestHandlerServesLiveJSON(t *testing.T) {
	s := scenarios()[0]
	var vmIP atomic.Value
	vmIP.Store("10.0.0.7")
	cfg := func() Config {
		c, err := Generate(s.opts, registry(t), func(h string) (string, bool) {
			if h == "vm.example.com" {
				return "http://" + vmIP.Load().(string) + ":8080", true
			}
			return "", false
		})
		if err != nil {
			t.Error(err)
		}
		return c
	}
	srv := httptest.NewServer(Handler(cfg))
	t.Cleanup(srv.Close)

	get := func(etag string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/traefik", nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := get("")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q; want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	want, _ := JSON(cfg())
	if !bytes.Equal(body.Bytes(), want) {
		t.Errorf("body is not JSON(cfg()):\n%s", body.Bytes())
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if r := get(etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("same ETag: status %d, want 304", r.StatusCode)
	}

	vmIP.Store("10.0.0.9") // the VM came back with a new address
	r := get(etag)
	if r.StatusCode != http.StatusOK || r.Header.Get("ETag") == etag {
		t.Fatalf("after an address change: status %d, etag %q; want 200 with a new etag", r.StatusCode, r.Header.Get("ETag"))
	}
	body.Reset()
	_, _ = body.ReadFrom(r.Body)
	if !bytes.Contains(body.Bytes(), []byte(`"http://10.0.0.9:8080"`)) {
		t.Errorf("new address missing from %s", body.Bytes())
	}

	post, err := http.Post(srv.URL+"/api/traefik", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", post.StatusCode)
	}
}
