package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/waitingroom/waitingroom/internal/hostname"
	"github.com/waitingroom/waitingroom/providers/kinds"
)

// FuzzParse: whatever the bytes, Parse returns a configuration or an
// *Errors whose every entry has a plausible line, never panics, and a
// configuration it accepts is displayed (RedactedYAML) as a file that
// parses back to the same configuration.
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 60s ./config/
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, cut := range []int{1, 10, 100, 200, 500, len(example) - 1} {
		if cut < len(example) {
			f.Add(example[:cut])
		}
	}
	s := string(example)
	for _, edit := range [][2]string{
		{"provider: docker", "provider: dockr"},
		{"container: app", "contianer: app"},
		{"idle_timeout: 10m", "idle_timeout: 10"},
		{"sleep: suspend", "sleep: pause"},
		{"wait: auto", "wait: later"},
		{`["systemctl", "start", "legacy"]`, `"systemctl start legacy"`},
		{`["systemctl", "stop", "legacy"]`, `[]`},
		{"http://app:80/", "ftp://app/"},
		{"host: vm.example.com", "host: app.example.com"},
		{"host: legacy.example.com", "host: '*.example.com'"},
		{"  - host: app.example.com", "  - &a host: app.example.com"},
		{"hosts:", "hosts: &h"},
		{"gce: {project: my-project}", "gce: {}"},
		{"listen: \":8080\"", "listen: 8080"},
		{"max_wakes_per_day: 20", "max_wakes_per_day: -20"},
		{"  exec: {}", "  exec: {timeout: 0s}\n  extra: {type: exec, <<: {sleep: stop}}"},
	} {
		f.Add([]byte(strings.Replace(s, edit[0], edit[1], 1)))
	}
	for _, seed := range []string{
		"", "~", "[]", "{}", "---\n---\n", "a: &a [*a]\nhosts: *a\n", "hosts: [{<<: [{host: x}], provider: y}]\n",
		"listen: \x00", "\xff", "trusted_proxies: []\n", "warm: x\n", "providers: {exec: {}}\nhosts:\n- {host: A., provider: exec, start: [a], stop: [b]}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data, kinds.All())
		if err != nil {
			if cfg != nil {
				t.Fatal("a configuration returned together with an error")
			}
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.List) == 0 {
				t.Fatalf("error %T %v is not a non-empty *Errors", err, err)
			}
			maxLine := lastLine(data)
			for _, e := range errs.List {
				if e.File != "fuzz.yaml" || e.Line < 0 || e.Line > maxLine || e.Msg == "" || len(e.Msg) > maxMessage+len("…") {
					t.Fatalf("implausible problem %+v (file has %d lines)", e, maxLine)
				}
			}
			return
		}
		hosts := cfg.Hosts()
		if len(hosts) != len(cfg.File.Hosts) {
			t.Fatalf("%d hosts from %d entries", len(hosts), len(cfg.File.Hosts))
		}
		seen := map[string]bool{}
		for _, h := range hosts {
			if canon, err := hostname.Check(h.Name); err != nil || canon != h.Name || seen[h.Name] {
				t.Fatalf("host %q accepted: canonical %q, err %v, duplicate %v", h.Name, canon, err, seen[h.Name])
			}
			seen[h.Name] = true
			if h.IdleTimeout <= 0 || h.StartTimeout <= 0 || h.Target.Sleep == "" || h.Wait == "" || h.WakeMode == "" {
				t.Fatalf("host %q lacks a default: %+v", h.Name, h)
			}
		}
		if len(cfg.File.Admin.Users) > 0 {
			return // redacted password hashes do not validate, by design
		}
		out, err := cfg.RedactedYAML()
		if err != nil {
			t.Fatalf("RedactedYAML: %v", err)
		}
		again, err := Parse("redacted.yaml", out, kinds.All())
		if err != nil {
			t.Fatalf("RedactedYAML does not parse back: %v\n%s", err, out)
		}
		if !sameFile(again.File, cfg.Redacted()) {
			t.Fatalf("RedactedYAML parses back differently:\n%s\n got %+v\nwant %+v", out, again.File, cfg.Redacted())
		}
	})
}

// sameFile compares configurations, taking an empty list or map to be the
// same as none: "hosts: []" and no hosts mean the same. trusted_proxies is
// the exception, and RedactedYAML keeps it written out.
func sameFile(a, b File) bool {
	emptyToNil(reflect.ValueOf(&a).Elem())
	emptyToNil(reflect.ValueOf(&b).Elem())
	return reflect.DeepEqual(a, b)
}

func emptyToNil(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).Name == "TrustedProxies" {
				continue
			}
			if f := v.Field(i); f.CanSet() {
				emptyToNil(f)
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := range v.Len() {
			emptyToNil(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			emptyToNil(e)
			v.SetMapIndex(k, e)
		}
	}
}
