package activity

import "github.com/waitingroom/waitingroom/controller"

// ExtraSettings is the controller.Host.Extra key of a host's HostSettings.
// The registry's sources (the configuration file) set it; read it with
// SettingsOf.
const ExtraSettings = "activity"

// HostSettings are a host's settings for activity and planning.
type HostSettings struct {
	// Warm lists windows as written: "CRON for DURATION" (shape checked).
	Warm []string
	// TimeZone is the IANA name the warm windows are read in (default UTC).
	TimeZone string
	// KeepAwakeWhile is a URL; while it answers 2xx the host is busy.
	KeepAwakeWhile string
	// TouchTokenFile or TouchTokenEnv hold the host's heartbeat token.
	TouchTokenFile string
	TouchTokenEnv  string
}

// SettingsOf returns a host's activity settings (zero when it has none).
func SettingsOf(h controller.Host) HostSettings {
	o, _ := h.Extra[ExtraSettings].(HostSettings)
	return o
}
