package traefik

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// schemaEnv names the file holding Traefik v3's file-provider JSON schema
// (SchemaStore's, with the Traefik 3.7 keys added). .ci/run sets it.
const schemaEnv = "WAITINGROOM_TRAEFIK_SCHEMA"

func traefikSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path := os.Getenv(schemaEnv)
	if path == "" {
		msg := schemaEnv + " is not set: point it at Traefik's dynamic-configuration schema, e.g. " +
			schemaEnv + "=$PWD/../shared/traefik/traefik-v3-file-provider.json go test ./traefik/"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	c := jsonschema.NewCompiler()
	s, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compiling schema %s (from %s): %v", path, schemaEnv, err)
	}
	return s
}

func TestGeneratedConfigurationsMatchTraefikSchema(t *testing.T) {
	schema := traefikSchema(t)
	cases := scenarios()
	cases = append(cases, scenario{"no-hosts", Options{WaitingroomURL: "http://127.0.0.1:8080"}})
	for _, s := range cases {
		t.Run(s.name, func(t *testing.T) {
			routes := registry(t)
			if s.name == "no-hosts" {
				routes = nil
			}
			cfg, err := Generate(s.opts, routes, liveVM)
			if err != nil {
				t.Fatal(err)
			}
			y, err := YAML(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var fromY any
			if err := yaml.Unmarshal(y, &fromY); err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(fromY); err != nil {
				t.Errorf("YAML does not match Traefik's schema: %v\n%s", err, y)
			}

			j, err := JSON(cfg)
			if err != nil {
				t.Fatal(err)
			}
			fromJ, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(fromJ); err != nil {
				t.Errorf("JSON does not match Traefik's schema: %v\n%s", err, j)
			}
		})
	}
}

// The schema check is worth something only if the schema is strict: a key
// Traefik does not know must fail.
func TestTraefikSchemaRejectsUnknownKeys(t *testing.T) {
	schema := traefikSchema(t)
	j, err := JSON(generate(t, scenarios()[0]))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(j, &doc); err != nil {
		t.Fatal(err)
	}
	routers := doc["http"].(map[string]any)["routers"].(map[string]any)
	routers["app-example-com"].(map[string]any)["healthCheck"] = map[string]any{"path": "/"}
	if err := schema.Validate(doc); err == nil {
		t.Fatal("a router with a healthCheck key validated; the schema is not strict")
	}
}
