// Package swarmtest gives tests a single-node Docker Swarm on the machine's
// real engine, and leaves the engine as it found it: it runs `swarm init`
// (advertising and listening on 127.0.0.1 only) when the engine is not in a
// swarm, and on Close leaves the swarm and removes the docker_gwbridge
// network init created — only if it initialised the swarm itself. An
// engine already in a swarm is used as it is and left in it.
//
// Test packages run in parallel processes: a process holds an exclusive
// lock (flock on a file in the temporary directory) from its first Require
// until Close, so one package's Close cannot leave a swarm another package
// is using. Services carry dockertest.Label, so the leftovers of a killed
// run are found with `docker service ls --filter label=com.waitingroom.test`.
package swarmtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
)

// gwbridge is the local network swarm init creates and swarm leave keeps.
const gwbridge = "docker_gwbridge"

// Swarm is a process's hold on the engine's swarm. Declare one per test
// package next to a dockertest.Shared, and Close it from TestMain after
// m.Run.
type Swarm struct {
	mu          sync.Mutex
	lock        *os.File
	ready       bool
	err         error
	initialised bool // we ran swarm init: Close leaves
	hadGWBridge bool
}

// Require returns a client of an engine in swarm mode, initialising the
// swarm on first use if the engine has none. It ends the test like
// dockertest.Require when there is no engine (skip, or fail under CI=true).
func (s *Swarm) Require(t testing.TB) *client.Client {
	t.Helper()
	cli := dockertest.Require(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready && s.err == nil {
		s.err = s.join(cli)
		s.ready = s.err == nil
	}
	if s.err != nil {
		t.Fatalf("swarm mode on the engine at %s: %v", cli.DaemonHost(), s.err)
	}
	return cli
}

func (s *Swarm) join(cli *client.Client) error {
	if s.lock == nil {
		f, err := os.OpenFile(filepath.Join(os.TempDir(), "waitingroom-swarmtest.lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return err
		}
		// Blocks while another test process uses the swarm it may leave.
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		s.lock = f
	}
	// After the lock: waiting for another package's tests is not the
	// engine's time.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	info, err := cli.Info(ctx)
	if err != nil {
		return err
	}
	switch info.Swarm.LocalNodeState {
	case swarm.LocalNodeStateActive:
		if !info.Swarm.ControlAvailable {
			return errors.New("the engine is a swarm worker, not a manager: services cannot be created through it")
		}
		return nil
	case swarm.LocalNodeStateInactive:
	default:
		return fmt.Errorf("the engine's swarm is %s (%s): not touching it", info.Swarm.LocalNodeState, info.Swarm.Error)
	}
	_, err = cli.NetworkInspect(ctx, gwbridge, network.InspectOptions{})
	s.hadGWBridge = err == nil
	if _, err := cli.SwarmInit(ctx, swarm.InitRequest{ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1"}); err != nil {
		return fmt.Errorf("swarm init: %w", err)
	}
	s.initialised = true
	return nil
}

// Close leaves the swarm and removes docker_gwbridge if Require created
// them, and releases the lock.
func (s *Swarm) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.initialised {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cli, err := dockertest.Connect(ctx)
		if err != nil {
			return fmt.Errorf("leaving the swarm this test created: %w", err)
		}
		defer cli.Close()
		if err := cli.SwarmLeave(ctx, true); err != nil {
			errs = append(errs, fmt.Errorf("swarm leave --force: %w", err))
		} else {
			s.initialised = false
		}
		if !s.hadGWBridge {
			// Left behind by swarm leave; its endpoints go with the
			// swarm's containers, a moment later.
			deadline := time.Now().Add(30 * time.Second)
			for {
				err := cli.NetworkRemove(ctx, gwbridge)
				if err == nil || cerrdefs.IsNotFound(err) {
					break
				}
				if time.Now().After(deadline) {
					errs = append(errs, fmt.Errorf("remove %s: %w", gwbridge, err))
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	if s.lock != nil {
		s.lock.Close() // releases the flock
		s.lock = nil
	}
	s.ready = false
	return errors.Join(errs...)
}

// Spec describes a test service.
type Spec struct {
	Image    string
	Name     string // default: a fresh wrtest-… name
	Labels   map[string]string
	Replicas uint64
	// Global makes a global service (one task per node) instead.
	Global bool
	// Args replace the image's command arguments.
	Args []string
	// Constraints are placement constraints ("node.labels.x==y").
	Constraints []string
	// PublishPort publishes the container's port 8080 on this host port
	// (host mode, no routing mesh); 0: not published.
	PublishPort int
}

// Service is a created test service.
type Service struct {
	ID, Name string
}

// CreateService creates a replicated service, removed (and its task
// containers waited for) when the test ends, whatever state it is in then.
// The image is the local one: the manager does not query a registry.
func CreateService(t testing.TB, cli *client.Client, s Spec) Service {
	t.Helper()
	if s.Name == "" {
		s.Name = dockertest.Name("wrtest")
	}
	labels := map[string]string{dockertest.Label: "1"}
	for k, v := range s.Labels {
		labels[k] = v
	}
	replicas := s.Replicas
	delay := 200 * time.Millisecond
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: s.Name, Labels: labels},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:  s.Image,
				Args:   s.Args,
				Labels: map[string]string{dockertest.Label: "1"},
			},
			RestartPolicy: &swarm.RestartPolicy{Delay: &delay},
			Placement:     &swarm.Placement{Constraints: s.Constraints},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}
	if s.Global {
		spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	}
	if s.PublishPort != 0 {
		spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{
			Protocol: swarm.PortConfigProtocolTCP, TargetPort: 8080, PublishedPort: uint32(s.PublishPort),
			PublishMode: swarm.PortConfigPublishModeHost,
		}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cli.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatalf("create service %s from %s: %v", s.Name, s.Image, err)
	}
	t.Cleanup(func() {
		if err := RemoveService(cli, resp.ID); err != nil {
			t.Errorf("remove service %s: %v", s.Name, err)
		}
	})
	return Service{ID: resp.ID, Name: s.Name}
}

// RemoveService removes a service and waits until its task containers are
// gone, so the image they run can be removed next.
func RemoveService(cli *client.Client, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cli.ServiceRemove(ctx, id); err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	f := filters.NewArgs(filters.Arg("label", "com.docker.swarm.service.id="+id))
	for {
		list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			return fmt.Errorf("list its containers: %w", err)
		}
		if len(list) == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%d task containers still there", len(list))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Scale sets a service's replicas the way an operator's `docker service
// scale` does, retrying on version conflicts.
func Scale(ctx context.Context, cli *client.Client, id string, replicas uint64) error {
	for attempt := 0; ; attempt++ {
		svc, _, err := cli.ServiceInspectWithRaw(ctx, id, swarm.ServiceInspectOptions{})
		if err != nil {
			return err
		}
		svc.Spec.Mode.Replicated.Replicas = &replicas
		_, err = cli.ServiceUpdate(ctx, id, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{})
		if err == nil || attempt >= 5 {
			return err
		}
	}
}
