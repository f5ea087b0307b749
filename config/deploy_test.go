package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/waitingroom/waitingroom/providers/kinds"
)

// The configuration deploy/kubernetes/waitingroom.yaml ships in its
// ConfigMap is valid.
func TestKubernetesDeployManifestConfigIsValid(t *testing.T) {
	b, err := os.ReadFile("../deploy/kubernetes/waitingroom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	found := false
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if doc.Kind != "ConfigMap" {
			continue
		}
		found = true
		if _, err := Parse("waitingroom.yaml ConfigMap config.yaml", []byte(doc.Data["config.yaml"]), kinds.All()); err != nil {
			t.Fatalf("the manifest's config.yaml: %v", err)
		}
	}
	if !found {
		t.Fatal("no ConfigMap in deploy/kubernetes/waitingroom.yaml")
	}
}
