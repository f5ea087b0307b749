package config

import (
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/waitingroom/waitingroom/internal/redact"
)

// RedactedValue is the placeholder shown instead of a secret.
const RedactedValue = redact.Placeholder

// Redacted returns a copy of the configuration fit for display (the
// dashboard, logs): password hashes, secrets inside URLs (passwords, secret
// query parameters such as ?token=) and exec argv (redact.Args), webhook
// URLs' paths and queries (which often are the secret, as with chat
// webhooks) are replaced by "REDACTED". Names of token files and
// environment variables are kept: they say where a secret is, not what it is.
func (c *Config) Redacted() File {
	f := cloneFile(c.File)
	for i := range f.Admin.Users {
		if f.Admin.Users[i].PasswordHash != "" {
			f.Admin.Users[i].PasswordHash = RedactedValue
		}
	}
	f.Store.RedisURL = redactUserinfo(f.Store.RedisURL)
	f.Traefik.WaitingroomURL = redactUserinfo(f.Traefik.WaitingroomURL)
	f.Traefik.MetricsURL = redactUserinfo(f.Traefik.MetricsURL)
	for i := range f.Webhooks {
		f.Webhooks[i].URL = redactWebhook(f.Webhooks[i].URL)
	}
	for name, p := range f.Providers {
		p.Settings = redactSettings(p.Settings)
		f.Providers[name] = p
	}
	for i := range f.Hosts {
		h := &f.Hosts[i]
		h.ReadyURL = redactUserinfo(h.ReadyURL)
		h.URL = redactUserinfo(h.URL)
		h.KeepAwakeWhile = redactUserinfo(h.KeepAwakeWhile)
		h.Target = redactSettings(h.Target)
	}
	return f
}

// RedactedYAML is Redacted() as YAML with every default filled in. Empty
// settings are left out, so the output reads like a configuration file
// and parses back to the same configuration (password hashes apart).
func (c *Config) RedactedYAML() ([]byte, error) {
	f := c.Redacted()
	var doc yaml.Node
	if err := doc.Encode(&f); err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	prune(&doc, "")
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	return out, nil
}

// prune removes, from the encoded configuration, empty values. An empty
// trusted_proxies or monitors.body stays: empty is not their default.
func prune(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			prune(c, path)
		}
		return
	case yaml.SequenceNode:
		flow := true
		for _, c := range n.Content {
			prune(c, path+"[]")
			flow = flow && c.Kind == yaml.ScalarNode
		}
		if flow {
			n.Style = yaml.FlowStyle // argv and other short lists on one line, as written
		}
		return
	case yaml.MappingNode:
	default:
		return
	}
	var kept []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		sub := join(path, k.Value)
		prune(v, sub)
		if sub != "trusted_proxies" && sub != "monitors.body" && isEmptyNode(v) {
			continue
		}
		kept = append(kept, k, v)
	}
	n.Content = kept
}

// MarshalYAML writes the provider's kind settings among its common ones,
// as the file does.
func (p Provider) MarshalYAML() (any, error) {
	type plain Provider // without this method
	return inline(plain(p), p.Settings)
}

// MarshalYAML writes the host's kind settings among its common ones, as
// the file does.
func (h Host) MarshalYAML() (any, error) {
	type plain Host
	return inline(plain(h), h.Target)
}

// inline encodes the struct common as a mapping, followed by the keys of
// the kind's settings (a pointer to a struct, or nil).
func inline(common, kind any) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(common); err != nil {
		return nil, err
	}
	if v := reflect.ValueOf(kind); v.IsValid() && !v.IsNil() {
		var k yaml.Node
		if err := k.Encode(kind); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, k.Content...)
	}
	return &n, nil
}

func isEmptyNode(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.ShortTag() == "!!null" || n.ShortTag() == "!!str" && n.Value == ""
	case yaml.SequenceNode, yaml.MappingNode:
		return len(n.Content) == 0
	}
	return false
}

// redactUserinfo hides the secrets of a URL (redact.Text: the password of
// user:password@, secret query parameters). An unparseable value holding an
// @ is hidden whole: assume the worst.
func redactUserinfo(s string) string {
	if strings.Contains(s, "@") {
		if _, err := url.Parse(s); err != nil {
			return RedactedValue
		}
	}
	return redact.Text(s)
}

func redactWebhook(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return RedactedValue
	}
	if (u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.User == nil {
		return s
	}
	return u.Scheme + "://" + u.Host + "/" + RedactedValue
}

// cloneFile copies every slice, map and pointer of f.
func cloneFile(f File) File {
	f.Admin.Hosts = slices.Clone(f.Admin.Hosts)
	f.Admin.Users = slices.Clone(f.Admin.Users)
	f.Admin.Tokens = slices.Clone(f.Admin.Tokens)
	f.Admin.MetricsPublic = cloneBool(f.Admin.MetricsPublic)
	f.TrustedProxies = slices.Clone(f.TrustedProxies)
	f.Traefik.EntryPoints = slices.Clone(f.Traefik.EntryPoints)
	f.Traefik.Middlewares = slices.Clone(f.Traefik.Middlewares)
	f.Bots.UserAgents = slices.Clone(f.Bots.UserAgents)
	f.Monitors.UserAgents = slices.Clone(f.Monitors.UserAgents)
	f.Monitors.Paths = slices.Clone(f.Monitors.Paths)
	f.Webhooks = slices.Clone(f.Webhooks)
	for i := range f.Webhooks {
		f.Webhooks[i].Events = slices.Clone(f.Webhooks[i].Events)
	}
	f.Providers = maps.Clone(f.Providers)
	for name, p := range f.Providers {
		p.Adopt = cloneBool(p.Adopt)
		p.Settings = cloneSettings(p.Settings)
		f.Providers[name] = p
	}
	f.Hosts = slices.Clone(f.Hosts)
	for i := range f.Hosts {
		h := &f.Hosts[i]
		h.Target = cloneSettings(h.Target)
		h.EntryPoints = slices.Clone(h.EntryPoints)
		h.Middlewares = slices.Clone(h.Middlewares)
		h.Warm = slices.Clone(h.Warm)
	}
	return f
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}
