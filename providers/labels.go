package providers

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/hostname"
	"github.com/waitingroom/waitingroom/internal/httpurl"
)

// The keys of a host registered by the engine's labels (Docker) or
// annotations (Kubernetes). KeyHost is required; the others are optional
// and mean what the same keys mean in the YAML registry.
const (
	KeyHost         = "waitingroom.host"
	KeyIdleTimeout  = "waitingroom.idle_timeout"
	KeyStartTimeout = "waitingroom.start_timeout"
	KeyReadyURL     = "waitingroom.ready_url"
	KeySleep        = "waitingroom.sleep"
)

// LabelRule is how one kind of provider reads host keys.
type LabelRule struct {
	// Word is what the engine calls them: "label", "annotation".
	Word string
	// Extra are the kind's own waitingroom.* keys, read by the caller;
	// any other unknown waitingroom.* key is refused as a likely typo.
	Extra []string
	// CheckSleep validates waitingroom.sleep for the kind.
	CheckSleep func(mode string) error
}

// HostFromLabels builds the host that labels describe, for target (whose
// Host and Provider it fills). owner names the labelled object in errors
// (`container "web"`, `deployment "shop/web"`); errors name the key too.
// Zero IdleTimeout and StartTimeout mean "the defaults".
func (r LabelRule) HostFromLabels(owner string, labels map[string]string, target controller.Target) (controller.Host, error) {
	bad := func(key, value, why string) error {
		return fmt.Errorf("%s: %s %s=%q: %s", owner, r.Word, key, value, why)
	}
	known := append([]string{KeyHost, KeyIdleTimeout, KeyStartTimeout, KeyReadyURL, KeySleep}, r.Extra...)
	for k := range labels {
		if strings.HasPrefix(k, "waitingroom.") && !slices.Contains(known, k) {
			return controller.Host{}, bad(k, labels[k], fmt.Sprintf("unknown %s (known: %s)", r.Word, strings.Join(known, ", ")))
		}
	}
	raw := labels[KeyHost]
	name, err := hostname.Check(strings.TrimSpace(raw))
	if err != nil {
		return controller.Host{}, bad(KeyHost, raw, err.Error())
	}
	target.Host = name
	h := controller.Host{Name: name, Provider: target.Provider, Target: target}
	for key, dst := range map[string]*time.Duration{KeyIdleTimeout: &h.IdleTimeout, KeyStartTimeout: &h.StartTimeout} {
		v, ok := labels[key]
		if !ok {
			continue
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return controller.Host{}, bad(key, v, "want a positive duration such as 30m or 90s")
		}
		*dst = d
	}
	if v, ok := labels[KeySleep]; ok {
		if err := r.CheckSleep(v); err != nil {
			return controller.Host{}, bad(KeySleep, v, err.Error())
		}
		h.Target.Sleep = v
	}
	if v, ok := labels[KeyReadyURL]; ok {
		if err := httpurl.Check(v, true); err != nil {
			return controller.Host{}, bad(KeyReadyURL, v, err.Error())
		}
		h.ReadyURL = v
	}
	return h, nil
}
