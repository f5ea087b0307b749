// Package gcetest is a local stand-in for the Compute Engine REST API:
// instances (get, start, stop, suspend, resume) and zone operations (get,
// wait), speaking the same paths and JSON as compute.googleapis.com so the
// real cloud.google.com/go/compute client can be pointed at it with
// option.WithEndpoint(server.URL) and option.WithoutAuthentication().
//
// Instances go through the real intermediate statuses (STAGING, STOPPING,
// SUSPENDING) with a short, configurable delay per step; operations go
// PENDING → RUNNING → DONE. Faults (HTTP errors, failed operations, hung
// requests) can be injected, requests are counted, and hooks run when a
// "VM" reaches RUNNING or stops, so an end-to-end test can start a real
// local HTTP server as the VM's application.
package gcetest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Instance statuses of the Compute Engine API.
const (
	StatusProvisioning = "PROVISIONING"
	StatusStaging      = "STAGING"
	StatusRunning      = "RUNNING"
	StatusStopping     = "STOPPING"
	StatusStopped      = "STOPPED"
	StatusSuspending   = "SUSPENDING"
	StatusSuspended    = "SUSPENDED"
	StatusRepairing    = "REPAIRING"
	StatusTerminated   = "TERMINATED"
)

// ZoneResourcePoolExhausted is the operation error code GCE uses when a zone
// has no capacity left for the machine type.
const ZoneResourcePoolExhausted = "ZONE_RESOURCE_POOL_EXHAUSTED"

// Request names, for Count and Fault.Method.
const (
	MethodGet           = "get"
	MethodStart         = "start"
	MethodStop          = "stop"
	MethodSuspend       = "suspend"
	MethodResume        = "resume"
	MethodOperationGet  = "operations.get"
	MethodOperationWait = "operations.wait"
)

// linkBase is where the real API's selfLinks point.
const linkBase = "https://www.googleapis.com/compute/v1"

// Option configures a Server.
type Option func(*config)

type config struct {
	step      time.Duration
	addresses func(instance string, n int) (internal, external string)
	onRunning func(instance string)
	onStopped func(instance string)
}

// WithStepDelay sets how long each intermediate step lasts (default 20ms):
// an operation is PENDING for one step, then the instance spends one step
// in STAGING (or STOPPING, SUSPENDING) before it settles.
func WithStepDelay(d time.Duration) Option { return func(c *config) { c.step = d } }

// WithAddresses sets how an instance gets its IPs each time it starts or
// resumes; n counts the instance's starts and resumes from 1. The default
// gives new addresses on every start: 10.128.0.(n+1) and 203.0.113.(n+1).
func WithAddresses(fn func(instance string, n int) (internal, external string)) Option {
	return func(c *config) { c.addresses = fn }
}

// WithOnRunning runs fn (outside the server's lock) each time an instance
// reaches RUNNING.
func WithOnRunning(fn func(instance string)) Option { return func(c *config) { c.onRunning = fn } }

// WithOnStopped runs fn (outside the server's lock) each time an instance
// reaches TERMINATED or SUSPENDED.
func WithOnStopped(fn func(instance string)) Option { return func(c *config) { c.onStopped = fn } }

// Fault is an injected failure. It applies to the next Times requests whose
// method matches.
type Fault struct {
	// Method is the request to fail (MethodStart, ...); "" matches any.
	Method string
	// Times is how many matching requests fail (default 1).
	Times int
	// HTTPStatus answers the request with this status and a GCE error body.
	HTTPStatus int
	// Reason is errors[].reason of the body; default derived from the status
	// (notFound, forbidden, rateLimitExceeded, backendError, ...).
	Reason string
	// Message is the error message; default a realistic one.
	Message string
	// OperationError, instead of an HTTP error, accepts an action (start,
	// resume, ...) and lets its operation end DONE with this error code,
	// e.g. ZoneResourcePoolExhausted; the instance falls back to where it
	// was.
	OperationError string
	// Hang blocks the request until the client gives up or the server
	// closes.
	Hang bool
}

// Instance describes an instance to add.
type Instance struct {
	Project, Zone, Name string
	// Status defaults to TERMINATED.
	Status string
	// InternalIP and ExternalIP are the current addresses; a RUNNING
	// instance without them gets addresses as if it had just started.
	InternalIP, ExternalIP string
}

// InstanceState is a snapshot of an instance.
type InstanceState struct {
	Status                 string
	InternalIP, ExternalIP string
	// Starts counts how often it reached RUNNING by start or resume.
	Starts int
}

// Server is the fake API. Its methods are safe for concurrent use.
type Server struct {
	// URL is the endpoint for option.WithEndpoint.
	URL string

	cfg  config
	srv  *httptest.Server
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	mu        sync.Mutex
	instances map[string]*instance
	ops       map[string]*operation
	faults    []*Fault
	counts    map[string]int
	nextID    uint64
}

type instance struct {
	project, zone, name string
	id                  uint64
	status              string
	internal, external  string
	created             time.Time
	starts              int
	history             []string
	gen                 int // bumped by every transition; a stale script stops
}

type operation struct {
	project, zone, name string
	id                  uint64
	opType              string
	target              *instance
	status              string // PENDING, RUNNING, DONE
	progress            int
	inserted, started   time.Time
	ended               time.Time
	errCode, errMessage string
	httpCode            int
	doneCh              chan struct{}
}

// NewServer starts a fake API that is closed when the test ends.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config{step: 20 * time.Millisecond, addresses: defaultAddresses}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		cfg:       cfg,
		done:      make(chan struct{}),
		instances: map[string]*instance{},
		ops:       map[string]*operation{},
		counts:    map[string]int{},
		nextID:    4_000_000_000_000_000_000,
	}
	mux := http.NewServeMux()
	const zonePath = "/compute/v1/projects/{project}/zones/{zone}"
	mux.HandleFunc("GET "+zonePath+"/instances/{instance}", s.handleGet)
	mux.HandleFunc("POST "+zonePath+"/instances/{instance}/{action}", s.handleAction)
	mux.HandleFunc("GET "+zonePath+"/operations/{operation}", s.handleOperation)
	mux.HandleFunc("POST "+zonePath+"/operations/{operation}/wait", s.handleOperationWait)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "notFound", fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path))
	})
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// Close stops the server, its lifecycles and any hung request.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		s.srv.Close()
		s.wg.Wait()
	})
}

func defaultAddresses(_ string, n int) (string, string) {
	last := n%250 + 1
	return fmt.Sprintf("10.128.0.%d", last), fmt.Sprintf("203.0.113.%d", last)
}

func key(project, zone, name string) string { return project + "/" + zone + "/" + name }

// AddInstance adds (or replaces) an instance.
func (s *Server) AddInstance(in Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.Status == "" {
		in.Status = StatusTerminated
	}
	s.nextID++
	inst := &instance{
		project: in.Project, zone: in.Zone, name: in.Name, id: s.nextID,
		status: in.Status, internal: in.InternalIP, external: in.ExternalIP,
		created: time.Now().Add(-24 * time.Hour),
		history: []string{in.Status},
	}
	if inst.internal == "" {
		// A stopped VM keeps its internal address; it changes on start.
		inst.internal, _ = s.cfg.addresses(in.Name, 0)
	}
	if in.Status == StatusRunning && in.ExternalIP == "" {
		_, inst.external = s.cfg.addresses(in.Name, 0)
	}
	s.instances[key(in.Project, in.Zone, in.Name)] = inst
	s.settleLocked(inst)
}

// SetStatus forces an instance's status, as if something outside waitingroom
// changed it. A transitional status (STOPPING, SUSPENDING, STAGING,
// PROVISIONING, REPAIRING) resolves by itself after one step, as it would.
func (s *Server) SetStatus(project, zone, name, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.instances[key(project, zone, name)]
	if !ok {
		return
	}
	inst.gen++
	inst.status = status
	inst.history = append(inst.history, status)
	s.settleLocked(inst)
}

// settleLocked schedules the natural end of a transitional status.
func (s *Server) settleLocked(inst *instance) {
	var final string
	switch inst.status {
	case StatusStopping:
		final = StatusTerminated
	case StatusSuspending:
		final = StatusSuspended
	case StatusStaging, StatusProvisioning, StatusRepairing:
		final = StatusRunning
	default:
		return
	}
	gen := inst.gen
	s.goLater(func() {
		s.mu.Lock()
		if inst.gen != gen {
			s.mu.Unlock()
			return
		}
		hook := s.enterLocked(inst, final)
		s.mu.Unlock()
		hook()
	})
}

// Instance returns a snapshot of an instance.
func (s *Server) Instance(project, zone, name string) (InstanceState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.instances[key(project, zone, name)]
	if !ok {
		return InstanceState{}, false
	}
	return InstanceState{Status: inst.status, InternalIP: inst.internal, ExternalIP: inst.external, Starts: inst.starts}, true
}

// History returns every status the instance has had, oldest first.
func (s *Server) History(project, zone, name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inst, ok := s.instances[key(project, zone, name)]; ok {
		return append([]string(nil), inst.history...)
	}
	return nil
}

// Count returns how many requests of a method (MethodStart, ...) arrived,
// faulted ones included.
func (s *Server) Count(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[method]
}

// Inject queues a fault. Faults apply in the order injected.
func (s *Server) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// takeFault is takeFaultLocked for a caller not holding s.mu.
func (s *Server) takeFault(method string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeFaultLocked(method)
}

// takeFaultLocked counts the request and returns the fault that applies to
// it, if any.
func (s *Server) takeFaultLocked(method string) *Fault {
	s.counts[method]++
	for i, f := range s.faults {
		if f.Method != "" && f.Method != method {
			continue
		}
		// An operation error only makes sense for an action.
		if f.OperationError != "" && !isAction(method) {
			continue
		}
		got := *f
		f.Times--
		if f.Times == 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return &got
	}
	return nil
}

func isAction(method string) bool {
	switch method {
	case MethodStart, MethodStop, MethodSuspend, MethodResume:
		return true
	}
	return false
}

// answerFault writes an HTTP fault; it reports whether it did.
func (s *Server) answerFault(w http.ResponseWriter, r *http.Request, f *Fault, resource string) bool {
	if f == nil || f.OperationError != "" {
		return false
	}
	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return true
	}
	code := f.HTTPStatus
	if code == 0 {
		code = http.StatusInternalServerError
	}
	reason, msg := f.Reason, f.Message
	if reason == "" {
		reason = defaultReason(code)
	}
	if msg == "" {
		msg = defaultMessage(code, reason, r.PathValue("action"), resource)
	}
	writeError(w, code, reason, msg)
	return true
}

func defaultReason(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "badRequest"
	case http.StatusUnauthorized:
		return "authError"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "notFound"
	case http.StatusTooManyRequests:
		return "rateLimitExceeded"
	case http.StatusServiceUnavailable:
		return "backendError"
	default:
		return "backendError"
	}
}

func defaultMessage(code int, reason, action, resource string) string {
	switch {
	case code == http.StatusForbidden:
		perm := "compute.instances.get"
		if action != "" {
			perm = "compute.instances." + action
		}
		return fmt.Sprintf("Required '%s' permission for '%s'", perm, resource)
	case code == http.StatusNotFound:
		return fmt.Sprintf("The resource '%s' was not found", resource)
	case code == http.StatusTooManyRequests:
		return "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service 'compute.googleapis.com' for consumer 'project_number:123456789012'."
	case reason == ZoneResourcePoolExhausted:
		return "The zone does not have enough resources available to fulfill the request. Try a different zone, or try again later."
	case code == http.StatusUnauthorized:
		return "Request had invalid authentication credentials."
	default:
		return "Internal error. Please try again or contact Google Support."
	}
}

func resourceName(r *http.Request) string {
	return fmt.Sprintf("projects/%s/zones/%s/instances/%s", r.PathValue("project"), r.PathValue("zone"), r.PathValue("instance"))
}

// instanceKey is the s.instances key of the instance a request names.
func instanceKey(r *http.Request) string {
	return key(r.PathValue("project"), r.PathValue("zone"), r.PathValue("instance"))
}

// writeInstanceNotFound answers as GCE does for an instance that does not
// exist.
func writeInstanceNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "notFound", defaultMessage(http.StatusNotFound, "", "", resourceName(r)))
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	f := s.takeFault(MethodGet)
	if s.answerFault(w, r, f, resourceName(r)) {
		return
	}
	s.mu.Lock()
	inst, ok := s.instances[instanceKey(r)]
	var body map[string]any
	if ok {
		body = s.instanceJSONLocked(inst)
	}
	s.mu.Unlock()
	if !ok {
		writeInstanceNotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) handleAction(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if !isAction(action) {
		writeError(w, http.StatusNotFound, "notFound", fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path))
		return
	}
	f := s.takeFault(action)
	if s.answerFault(w, r, f, resourceName(r)) {
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.instances[instanceKey(r)]
	if !ok {
		writeInstanceNotFound(w, r)
		return
	}
	op, status, reason, msg := s.beginLocked(inst, action, f)
	if op == nil {
		writeError(w, status, reason, msg)
		return
	}
	writeJSON(w, http.StatusOK, s.operationJSONLocked(op))
}

// beginLocked starts an action's operation and the instance's lifecycle, or
// returns the error the real API would give.
func (s *Server) beginLocked(inst *instance, action string, f *Fault) (*operation, int, string, string) {
	op := s.newOperationLocked(inst, action)
	notReady := func() (*operation, int, string, string) {
		delete(s.ops, key(op.project, op.zone, op.name))
		return nil, http.StatusBadRequest, "resourceNotReady",
			fmt.Sprintf("The resource 'projects/%s/zones/%s/instances/%s' is not ready", inst.project, inst.zone, inst.name)
	}
	var path []string // statuses the instance goes through, the last one final
	switch action {
	case MethodStart:
		switch inst.status {
		case StatusTerminated, StatusStopped:
			path = []string{StatusStaging, StatusRunning}
		case StatusRunning, StatusStaging, StatusProvisioning, StatusRepairing:
			// Already (nearly) running: the operation finishes at once.
		case StatusSuspended:
			delete(s.ops, key(op.project, op.zone, op.name))
			return nil, http.StatusBadRequest, "badRequest",
				fmt.Sprintf("Instance '%s' is suspended. Resume the instance instead of starting it.", inst.name)
		default:
			return notReady()
		}
	case MethodResume:
		switch inst.status {
		case StatusSuspended:
			path = []string{StatusStaging, StatusRunning}
		case StatusSuspending:
			return notReady()
		default:
			delete(s.ops, key(op.project, op.zone, op.name))
			return nil, http.StatusBadRequest, "badRequest",
				fmt.Sprintf("Instance '%s' is not in SUSPENDED state, cannot resume.", inst.name)
		}
	case MethodStop:
		switch inst.status {
		case StatusRunning, StatusStaging, StatusProvisioning, StatusRepairing, StatusSuspended:
			path = []string{StatusStopping, StatusTerminated}
		}
	case MethodSuspend:
		switch inst.status {
		case StatusRunning:
			path = []string{StatusSuspending, StatusSuspended}
		case StatusSuspended, StatusSuspending:
		default:
			return notReady()
		}
	}
	if f != nil && f.OperationError != "" {
		op.errCode = f.OperationError
		op.errMessage = f.Message
		if op.errMessage == "" {
			op.errMessage = defaultMessage(0, f.OperationError, action, "")
			if f.OperationError == ZoneResourcePoolExhausted {
				op.errMessage = fmt.Sprintf("The zone 'projects/%s/zones/%s' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.", inst.project, inst.zone)
			}
		}
		op.httpCode = f.HTTPStatus
		if op.httpCode == 0 {
			op.httpCode = http.StatusBadRequest
			if f.OperationError == ZoneResourcePoolExhausted {
				op.httpCode = http.StatusServiceUnavailable
			}
		}
	}
	if len(path) == 0 && op.errCode == "" {
		s.finishLocked(op)
		return op, 0, "", ""
	}
	if len(path) > 0 {
		inst.gen++
	}
	s.runLocked(op, inst, inst.gen, inst.status, path)
	return op, 0, "", ""
}

// runLocked drives an operation: PENDING for one step, then RUNNING while
// the instance walks its path one step per status, then DONE.
func (s *Server) runLocked(op *operation, inst *instance, gen int, from string, path []string) {
	var step func(i int)
	step = func(i int) {
		s.mu.Lock()
		if op.status == "PENDING" {
			op.status = "RUNNING"
			op.started = time.Now()
		}
		var hook func()
		switch {
		case inst.gen != gen:
			// Another action took over the instance: this operation is
			// over as far as it is concerned.
			s.finishLocked(op)
		case op.errCode != "" && i >= len(path)-1:
			// The action fails where it would have settled: back to where
			// it was, as GCE does when a zone has no capacity.
			inst.gen++
			inst.status = from
			inst.history = append(inst.history, from)
			s.finishLocked(op)
		case i < len(path):
			hook = s.enterLocked(inst, path[i])
			op.progress = 100 * (i + 1) / (len(path) + 1)
			if i == len(path)-1 {
				s.finishLocked(op)
			}
		default:
			s.finishLocked(op)
		}
		more := op.status != "DONE"
		s.mu.Unlock()
		if hook != nil {
			hook()
		}
		if more {
			s.goLater(func() { step(i + 1) })
		}
	}
	s.goLater(func() { step(0) })
}

// enterLocked moves an instance to status and returns the hook to run once
// the lock is released.
func (s *Server) enterLocked(inst *instance, status string) func() {
	inst.status = status
	inst.history = append(inst.history, status)
	switch status {
	case StatusRunning:
		inst.starts++
		inst.internal, inst.external = s.cfg.addresses(inst.name, inst.starts)
		if fn := s.cfg.onRunning; fn != nil {
			name := inst.name
			return func() { fn(name) }
		}
	case StatusTerminated, StatusSuspended:
		// The ephemeral external address is released while asleep.
		inst.external = ""
		if fn := s.cfg.onStopped; fn != nil {
			name := inst.name
			return func() { fn(name) }
		}
	}
	return func() {}
}

func (s *Server) finishLocked(op *operation) {
	if op.status == "DONE" {
		return
	}
	if op.started.IsZero() {
		op.started = time.Now()
	}
	op.status = "DONE"
	op.progress = 100
	op.ended = time.Now()
	close(op.doneCh)
}

// goLater runs fn after one step unless the server closes first.
func (s *Server) goLater(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(s.cfg.step)
		defer t.Stop()
		select {
		case <-s.done:
		case <-t.C:
			fn()
		}
	}()
}

func (s *Server) newOperationLocked(inst *instance, action string) *operation {
	s.nextID++
	var b [8]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	now := time.Now()
	op := &operation{
		project: inst.project, zone: inst.zone, id: s.nextID, opType: action, target: inst,
		name:     fmt.Sprintf("operation-%d-%s-%s-%s", now.UnixMilli(), h[:13], h[13:], "a1b2c3d4"),
		status:   "PENDING",
		inserted: now,
		doneCh:   make(chan struct{}),
	}
	s.ops[key(op.project, op.zone, op.name)] = op
	return op
}

func (s *Server) lookupOperation(w http.ResponseWriter, r *http.Request, method string) *operation {
	f := s.takeFault(method)
	name := fmt.Sprintf("projects/%s/zones/%s/operations/%s", r.PathValue("project"), r.PathValue("zone"), r.PathValue("operation"))
	if f != nil && f.HTTPStatus == http.StatusForbidden && f.Message == "" {
		f.Message = fmt.Sprintf("Required 'compute.zoneOperations.get' permission for '%s'", name)
	}
	if s.answerFault(w, r, f, name) {
		return nil
	}
	s.mu.Lock()
	op, ok := s.ops[key(r.PathValue("project"), r.PathValue("zone"), r.PathValue("operation"))]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "notFound", fmt.Sprintf("The resource '%s' was not found", name))
		return nil
	}
	return op
}

func (s *Server) handleOperation(w http.ResponseWriter, r *http.Request) {
	op := s.lookupOperation(w, r, MethodOperationGet)
	if op == nil {
		return
	}
	s.mu.Lock()
	body := s.operationJSONLocked(op)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

// handleOperationWait answers when the operation is done or after a while,
// like zoneOperations.wait (which gives up after about two minutes).
func (s *Server) handleOperationWait(w http.ResponseWriter, r *http.Request) {
	op := s.lookupOperation(w, r, MethodOperationWait)
	if op == nil {
		return
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-op.doneCh:
	case <-t.C:
	case <-r.Context().Done():
		return
	case <-s.done:
		return
	}
	s.mu.Lock()
	body := s.operationJSONLocked(op)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

func zoneLink(project, zone string) string {
	return fmt.Sprintf("%s/projects/%s/zones/%s", linkBase, project, zone)
}

func (s *Server) instanceJSONLocked(inst *instance) map[string]any {
	zl := zoneLink(inst.project, inst.zone)
	access := map[string]any{
		"kind":        "compute#accessConfig",
		"type":        "ONE_TO_ONE_NAT",
		"name":        "External NAT",
		"networkTier": "PREMIUM",
	}
	if inst.external != "" {
		access["natIP"] = inst.external
	}
	nic := map[string]any{
		"kind":          "compute#networkInterface",
		"name":          "nic0",
		"network":       fmt.Sprintf("%s/projects/%s/global/networks/default", linkBase, inst.project),
		"subnetwork":    fmt.Sprintf("%s/projects/%s/regions/%s/subnetworks/default", linkBase, inst.project, region(inst.zone)),
		"stackType":     "IPV4_ONLY",
		"fingerprint":   "xJqZ2g8GUmM=",
		"accessConfigs": []any{access},
	}
	if inst.internal != "" {
		nic["networkIP"] = inst.internal
	}
	return map[string]any{
		"kind":               "compute#instance",
		"id":                 strconv.FormatUint(inst.id, 10),
		"creationTimestamp":  inst.created.Format("2006-01-02T15:04:05.000-07:00"),
		"name":               inst.name,
		"machineType":        zl + "/machineTypes/e2-small",
		"status":             inst.status,
		"zone":               zl,
		"canIpForward":       false,
		"networkInterfaces":  []any{nic},
		"selfLink":           zl + "/instances/" + inst.name,
		"labelFingerprint":   "42WmSpB8rSM=",
		"fingerprint":        "3mBnpnA0ZSc=",
		"cpuPlatform":        "Intel Broadwell",
		"deletionProtection": false,
	}
}

func region(zone string) string {
	for i := len(zone) - 1; i >= 0; i-- {
		if zone[i] == '-' {
			return zone[:i]
		}
	}
	return zone
}

func (s *Server) operationJSONLocked(op *operation) map[string]any {
	zl := zoneLink(op.project, op.zone)
	body := map[string]any{
		"kind":          "compute#operation",
		"id":            strconv.FormatUint(op.id, 10),
		"name":          op.name,
		"zone":          zl,
		"operationType": op.opType,
		"targetLink":    zl + "/instances/" + op.target.name,
		"targetId":      strconv.FormatUint(op.target.id, 10),
		"status":        op.status,
		"user":          "waitingroom@example-project.iam.gserviceaccount.com",
		"progress":      op.progress,
		"insertTime":    op.inserted.Format(time.RFC3339Nano),
		"selfLink":      zl + "/operations/" + op.name,
	}
	if !op.started.IsZero() {
		body["startTime"] = op.started.Format(time.RFC3339Nano)
	}
	if op.status == "DONE" {
		body["endTime"] = op.ended.Format(time.RFC3339Nano)
		if op.errCode != "" {
			body["error"] = map[string]any{"errors": []any{map[string]any{"code": op.errCode, "message": op.errMessage}}}
			body["httpErrorStatusCode"] = op.httpCode
			body["httpErrorMessage"] = httpErrorMessage(op.httpCode)
		}
	}
	return body
}

// httpErrorMessage is how operations spell their HTTP status: upper case.
func httpErrorMessage(code int) string {
	b := []byte(http.StatusText(code))
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func writeError(w http.ResponseWriter, code int, reason, msg string) {
	domain := "global"
	if code == http.StatusTooManyRequests {
		domain = "usageLimits"
	}
	writeJSON(w, code, map[string]any{"error": map[string]any{
		"code":    code,
		"message": msg,
		"errors":  []any{map[string]any{"message": msg, "domain": domain, "reason": reason}},
		"status":  grpcStatus(code),
	}})
}

func grpcStatus(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	default:
		return "INTERNAL"
	}
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
