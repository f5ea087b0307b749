package traefik

import "github.com/waitingroom/waitingroom/controller"

// ExtraHostOptions is the controller.Host.Extra key of a host's
// HostOptions. The registry's sources (the configuration file, Docker
// labels) set it; read it with HostOptionsOf.
const ExtraHostOptions = "traefik"

// HostOptions are a host's settings for the generated Traefik
// configuration. Empty lists mean the global traefik: settings.
type HostOptions struct {
	// URL is where Traefik sends real traffic (placeholders such as
	// {internal_ip} are filled from the provider's live status). Default:
	// the origin of ready_url.
	URL          string
	EntryPoints  []string
	CertResolver string
	Middlewares  []string
}

// HostOptionsOf returns a host's options (zero when it has none).
func HostOptionsOf(h controller.Host) HostOptions {
	o, _ := h.Extra[ExtraHostOptions].(HostOptions)
	return o
}
