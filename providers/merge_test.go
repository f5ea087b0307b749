package providers

import (
	"slices"
	"testing"

	"github.com/waitingroom/waitingroom/controller"
)

func TestMergeHosts(t *testing.T) {
	fileHost := func(name string) controller.Host {
		return controller.Host{Name: name, Provider: "docker", Origin: "file",
			Target: controller.Target{Host: name, Backend: testBackend("container=yaml-" + name)}}
	}
	labelHost := func(name, container string) controller.Host {
		return controller.Host{Name: name, Provider: "docker", Origin: "docker-labels",
			Target: controller.Target{Host: name, Backend: testBackend("container=" + container)}}
	}
	tests := []struct {
		name          string
		file, labels  []controller.Host
		wantNames     []string
		wantContainer map[string]string
		wantConflicts []string
	}{
		{name: "nothing discovered", file: []controller.Host{fileHost("a.test")}, wantNames: []string{"a.test"}},
		{name: "nothing in the file", labels: []controller.Host{labelHost("b.test", "b")}, wantNames: []string{"b.test"}},
		{
			name:          "disjoint",
			file:          []controller.Host{fileHost("b.test"), fileHost("a.test")},
			labels:        []controller.Host{labelHost("d.test", "d"), labelHost("c.test", "c")},
			wantNames:     []string{"b.test", "a.test", "d.test", "c.test"},
			wantContainer: map[string]string{"c.test": "c", "a.test": "yaml-a.test"},
		},
		{
			name:          "the file wins and the conflict is reported",
			file:          []controller.Host{fileHost("app.test")},
			labels:        []controller.Host{labelHost("app.test", "web"), labelHost("other.test", "o")},
			wantNames:     []string{"app.test", "other.test"},
			wantContainer: map[string]string{"app.test": "yaml-app.test"},
			wantConflicts: []string{`host "app.test" from docker-labels (container=web) is ignored: the configuration file already registers it`},
		},
		{
			name:          "two discovered hosts of one name",
			labels:        []controller.Host{labelHost("x.test", "one"), labelHost("x.test", "two")},
			wantNames:     []string{"x.test"},
			wantContainer: map[string]string{"x.test": "one"},
			wantConflicts: []string{`host "x.test" from docker-labels (container=two) is ignored: docker-labels (container=one) already registers it`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fileBefore := slices.Clone(tc.file)
			merged, conflicts := MergeHosts(tc.file, tc.labels)
			var names []string
			for _, h := range merged {
				names = append(names, h.Name)
				if want, ok := tc.wantContainer[h.Name]; ok && h.Target.Backend.String() != "container="+want {
					t.Errorf("%s: container %q, want %q", h.Name, h.Target.Backend.String(), want)
				}
			}
			if !slices.Equal(names, tc.wantNames) {
				t.Errorf("merged %v, want %v", names, tc.wantNames)
			}
			if !slices.Equal(conflicts, tc.wantConflicts) {
				t.Errorf("conflicts %q\nwant      %q", conflicts, tc.wantConflicts)
			}
			for i := range fileBefore {
				if tc.file[i].Name != fileBefore[i].Name {
					t.Errorf("MergeHosts modified its input")
				}
			}
		})
	}
}

// testBackend is a kind's target that describes itself as given.
type testBackend string

func (b testBackend) String() string { return string(b) }
