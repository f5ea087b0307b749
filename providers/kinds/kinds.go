// Package kinds is the table of the provider kinds this build knows: the
// only place a kind is named. Adding a kind is a new folder under
// providers/ that exports a providers.Kind, and one line here.
package kinds

import (
	"github.com/waitingroom/waitingroom/providers"
	"github.com/waitingroom/waitingroom/providers/docker"
	"github.com/waitingroom/waitingroom/providers/exec"
	"github.com/waitingroom/waitingroom/providers/gce"
	"github.com/waitingroom/waitingroom/providers/kubernetes"
	"github.com/waitingroom/waitingroom/providers/swarm"
)

// All returns every kind, one line each.
func All() providers.Kinds {
	return providers.Kinds{
		docker.Kind,
		exec.Kind,
		gce.Kind,
		kubernetes.Kind,
		swarm.Kind,
	}
}
