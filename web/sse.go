package web

import (
	"bytes"
	"net/http"
	"strconv"
	"time"
)

// Server-sent events, framed in one place for the three streams: the
// waiting page's over a hijacked HTTP/1 connection (streams.go), the same
// inside the handler for HTTP/2 (events.go), and the admin feed (api.go).

// publicRetry is how soon the waiting page's EventSource reconnects.
const publicRetry = time.Second

// sseHeartbeat is a comment line: it keeps proxies from closing an idle
// stream and tells a dead client from a live one.
const sseHeartbeat = ": heartbeat\n\n"

// setSSEHeaders sets the headers of an event stream on h.
func setSSEHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx and friends: do not buffer the stream
}

// sseHeaderKeys are the headers setSSEHeaders sets, to take them back.
func sseHeaderKeys() []string { return []string{"Content-Type", "Cache-Control", "X-Accel-Buffering"} }

// appendSSERetry opens a stream: EventSource reconnects after d instead of
// its default 3 s.
func appendSSERetry(out *bytes.Buffer, d time.Duration) {
	out.WriteString("retry: ")
	out.WriteString(strconv.FormatInt(d.Milliseconds(), 10))
	out.WriteString("\n\n")
}

// appendSSEEvent frames one event. data must hold no newline (what
// encoding/json writes has none).
func appendSSEEvent(out *bytes.Buffer, event string, data []byte) {
	out.WriteString("event: ")
	out.WriteString(event)
	out.WriteString("\ndata: ")
	out.Write(data)
	out.WriteString("\n\n")
}
