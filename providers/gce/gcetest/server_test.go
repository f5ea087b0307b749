package gcetest_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/providers/gce/gcetest"
)

const base = "/compute/v1/projects/p-123456/zones/us-central1-a"

func do(t *testing.T, srv *gcetest.Server, method, path string, wantCode int) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantCode {
		t.Fatalf("%s %s: status %d, want %d", method, path, resp.StatusCode, wantCode)
	}
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return body
}

// dig walks a decoded JSON document: string keys and int indexes.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("no object at %v", p)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || len(a) <= k {
				t.Fatalf("no array element at %v", p)
			}
			v = a[k]
		}
	}
	return v
}

// TestWireFormat pins the JSON field names of the real API, which the
// client's protojson decoding relies on.
func TestWireFormat(t *testing.T) {
	// Steps long enough that polling sees every operation status.
	srv := gcetest.NewServer(t, gcetest.WithStepDelay(500*time.Millisecond)) // above one GET on a busy machine
	srv.AddInstance(gcetest.Instance{Project: "p-123456", Zone: "us-central1-a", Name: "web-1", Status: gcetest.StatusRunning})

	inst := do(t, srv, "GET", base+"/instances/web-1", 200)
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"kind"}, "compute#instance"},
		{[]any{"name"}, "web-1"},
		{[]any{"status"}, "RUNNING"},
		{[]any{"zone"}, "https://www.googleapis.com/compute/v1/projects/p-123456/zones/us-central1-a"},
		{[]any{"selfLink"}, "https://www.googleapis.com/compute/v1/projects/p-123456/zones/us-central1-a/instances/web-1"},
		{[]any{"networkInterfaces", 0, "networkIP"}, "10.128.0.1"},
		{[]any{"networkInterfaces", 0, "accessConfigs", 0, "natIP"}, "203.0.113.1"},
	} {
		if got := dig(t, inst, c.path...); got != c.want {
			t.Errorf("instance %v = %v, want %v", c.path, got, c.want)
		}
	}
	if _, ok := dig(t, inst, "id").(string); !ok {
		t.Errorf("id must be a string (uint64 in JSON), got %T", dig(t, inst, "id"))
	}

	srv.Inject(gcetest.Fault{Method: gcetest.MethodStop, OperationError: "RESOURCE_OPERATION_RATE_EXCEEDED", Message: "too fast"})
	op := do(t, srv, "POST", base+"/instances/web-1/stop", 200)
	if dig(t, op, "status") != "PENDING" || dig(t, op, "operationType") != "stop" ||
		dig(t, op, "targetLink") != dig(t, inst, "selfLink") {
		t.Fatalf("operation = %v", op)
	}
	name := dig(t, op, "name").(string)
	deadline := time.Now().Add(5 * time.Second)
	seen := map[any]bool{}
	for dig(t, op, "status") != "DONE" {
		if time.Now().After(deadline) {
			t.Fatalf("operation never DONE: %v", op)
		}
		seen[dig(t, op, "status")] = true
		time.Sleep(2 * time.Millisecond)
		op = do(t, srv, "GET", base+"/operations/"+name, 200)
	}
	if !seen["PENDING"] || !seen["RUNNING"] {
		t.Errorf("operation went through %v, want PENDING and RUNNING before DONE", seen)
	}
	if dig(t, op, "error", "errors", 0, "code") != "RESOURCE_OPERATION_RATE_EXCEEDED" ||
		dig(t, op, "error", "errors", 0, "message") != "too fast" ||
		dig(t, op, "httpErrorStatusCode") != float64(400) {
		t.Errorf("failed operation = %v", op)
	}

	e := do(t, srv, "GET", base+"/instances/nope", 404)
	if dig(t, e, "error", "code") != float64(404) || dig(t, e, "error", "errors", 0, "reason") != "notFound" {
		t.Errorf("404 body = %v", e)
	}
	waited := do(t, srv, "POST", base+"/operations/"+name+"/wait", 200)
	if dig(t, waited, "status") != "DONE" {
		t.Errorf("wait = %v", waited)
	}
	if got := srv.Count(gcetest.MethodStop); got != 1 {
		t.Errorf("stop count = %d", got)
	}
}

func TestHooksAndChangingAddresses(t *testing.T) {
	running := make(chan string, 4)
	stopped := make(chan string, 4)
	srv := gcetest.NewServer(t,
		gcetest.WithOnRunning(func(n string) { running <- n }),
		gcetest.WithOnStopped(func(n string) { stopped <- n }),
	)
	srv.AddInstance(gcetest.Instance{Project: "p-123456", Zone: "us-central1-a", Name: "web-1"})
	var ips []string
	for range 2 {
		do(t, srv, "POST", base+"/instances/web-1/start", 200)
		select {
		case <-running:
		case <-time.After(5 * time.Second):
			t.Fatal("OnRunning never called")
		}
		st, _ := srv.Instance("p-123456", "us-central1-a", "web-1")
		ips = append(ips, st.InternalIP)
		do(t, srv, "POST", base+"/instances/web-1/stop", 200)
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			t.Fatal("OnStopped never called")
		}
	}
	if ips[0] == ips[1] {
		t.Fatalf("internal IP did not change between starts: %v", ips)
	}
}
