package web

import (
	"context"
	"errors"
	"time"
)

// Sessions are recorded in the store, so that logging out ends a session
// on every replica sharing it, not only in the browser that logged out.
//
// A session is a lease named after its id (the Store's leases are shared
// by every replica and expire by themselves): at login the session takes
// it as its own owner; each request renews it under the same owner until
// the cookie's expiry, which succeeds while the session is live; logout
// hands it to the owner "revoked" for the rest of the session's life, so
// every later renewal fails. One store round trip per request.
//
// A lease that is simply missing (the memory store restarted, Redis was
// flushed) is taken again by the next request: the cookie's signature and
// expiry still hold, and nobody is logged out by a restart. When the store
// cannot be reached the session is accepted and the failure logged: the
// dashboard is what an operator opens during an outage, and a revoked
// cookie would need the store down and the cookie stolen.
const (
	sessionLeasePrefix = "admin-session:"
	revokedOwner       = "revoked"
)

// sessionLive reports whether the user session d has not been revoked.
func (a *Admin) sessionLive(ctx context.Context, d sessionData) bool {
	st := a.sessions
	if st == nil {
		return true
	}
	ttl := time.Unix(d.Exp, 0).Sub(a.ctl.Now())
	if ttl <= 0 {
		return false
	}
	ok, err := st.AcquireLease(ctx, sessionLeasePrefix+d.ID, d.ID, ttl)
	if err != nil {
		a.log.Warn("admin session not checked against the store; accepting its signed cookie", "user", d.User, "err", err)
		return true
	}
	return ok
}

// recordSession takes the session's lease at login.
func (a *Admin) recordSession(ctx context.Context, d sessionData) {
	if st := a.sessions; st != nil {
		if _, err := st.AcquireLease(ctx, sessionLeasePrefix+d.ID, d.ID, time.Unix(d.Exp, 0).Sub(a.ctl.Now())); err != nil {
			a.log.Warn("admin session not recorded in the store", "user", d.User, "err", err)
		}
	}
}

// revokeSession ends session d on every replica: its lease goes to the
// owner "revoked" until the cookie would have expired anyway. A request of
// the same session racing the logout may renew the lease in between; the
// handover is then tried again.
func (a *Admin) revokeSession(ctx context.Context, d sessionData) error {
	st := a.sessions
	if st == nil {
		return nil
	}
	name, ttl := sessionLeasePrefix+d.ID, time.Unix(d.Exp, 0).Sub(a.ctl.Now())
	if ttl <= 0 {
		return nil
	}
	var err error
	for range 5 {
		if err = st.ReleaseLease(ctx, name, d.ID); err != nil {
			return err
		}
		var ok bool
		if ok, err = st.AcquireLease(ctx, name, revokedOwner, ttl); err != nil || ok {
			return err
		}
	}
	return errSessionBusy
}

var errSessionBusy = errors.New("the session stayed in use while logging out")
