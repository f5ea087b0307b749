package web

import "github.com/waitingroom/waitingroom/internal/redact"

// publicReason is what anonymous visitors learn of why a wake failed: by
// default nothing (the page says that it failed and when it retries),
// since the provider's words name internal URLs, addresses and the tail of
// a start command's stderr. With show (page.show_failure_reason) they get
// those words with secrets hidden, as operators do.
func publicReason(show bool, reason string) string {
	if !show {
		return ""
	}
	return redact.Text(reason)
}
