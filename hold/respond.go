package hold

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// refusal is the JSON body of every answer the Holder gives itself. host,
// state and retry_after match the waiting page's JSON answer.
type refusal struct {
	Host       string           `json:"host"`
	State      controller.State `json:"state,omitempty"`
	RetryAfter int              `json:"retry_after"`
	Message    string           `json:"message"`
	Reason     string           `json:"reason"`
}

// refuse answers the request itself and counts it by reason. retry 0 sends
// no Retry-After (retrying a too-large body does not help).
func (hd *Holder) refuse(w http.ResponseWriter, r *http.Request, hs *hostState, status int, reason string,
	state controller.State, retry time.Duration, msg string) {
	hd.metrics.rejections.WithLabelValues(hs.name, reason).Inc()
	v := refusal{Host: hs.name, State: state, Message: msg, Reason: reason}
	h := w.Header()
	if retry > 0 {
		v.RetryAfter = ceilSeconds(retry)
		h.Set("Retry-After", strconv.Itoa(v.RetryAfter))
	}
	if state != "" {
		h.Set("X-Waitingroom-State", string(state))
	}
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(v) // strings and ints only: cannot fail
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b.Bytes())
	}
}

// ceilSeconds rounds up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
