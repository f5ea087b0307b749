package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
	"github.com/waitingroom/waitingroom/store/memory"
	redisstore "github.com/waitingroom/waitingroom/store/redis"
)

// Logging out ends the session on every replica sharing the store, with
// both stores: a cookie still valid by its signature and expiry is refused
// by the other replica after the logout. Other sessions of the same user
// are not touched.
func TestLogoutRevokesSessionOnEveryReplica(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	stores := map[string]func(t *testing.T) (controller.Store, controller.Store){
		"memory": func(*testing.T) (controller.Store, controller.Store) { st := memory.New(nil); return st, st },
		"redis": func(t *testing.T) (controller.Store, controller.Store) {
			srv := redistest.Start(t)
			open := func() controller.Store {
				st, err := redisstore.New(context.Background(), srv.URL())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = st.Close() })
				return st
			}
			return open(), open()
		},
	}
	for name, newStores := range stores {
		t.Run(name, func(t *testing.T) {
			st1, st2 := newStores(t)
			replica := func(st controller.Store) *Admin {
				s := newDashSetup(t, nil, func(o *AdminOptions) {
					o.SessionKey = key
					o.Controller = controller.New(controller.Options{Store: st, Registry: controller.NewRegistry(nil, nil), Logger: discardLogger()})
					o.Sessions = st
				})
				return s.admin
			}
			one, two := replica(st1), replica(st2)
			loginOn := func(a *Admin) string {
				form := url.Values{"user": {dashUser}, "password": {dashPassword}}
				r := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				w := httptest.NewRecorder()
				a.ServeHTTP(w, r)
				if w.Code != http.StatusSeeOther {
					t.Fatalf("login: %d", w.Code)
				}
				return strings.Split(w.Header().Get("Set-Cookie"), ";")[0]
			}
			get := func(a *Admin, cookie, path string) *httptest.ResponseRecorder {
				r := httptest.NewRequest("GET", path, nil)
				r.Header.Set("Cookie", cookie)
				r.Header.Set("Accept", "application/json")
				w := httptest.NewRecorder()
				a.ServeHTTP(w, r)
				return w
			}
			cookie, other := loginOn(one), loginOn(one)
			if w := get(two, cookie, "/api/hosts"); w.Code != 200 {
				t.Fatalf("the session on the other replica before logout: %d", w.Code)
			}
			// The dashboard's logout form carries the session's CSRF token.
			d, _ := one.sign.decode(strings.TrimPrefix(cookie, sessionCookie+"="), time.Now())
			r := httptest.NewRequest("POST", "/logout", strings.NewReader(url.Values{"csrf": {one.sign.csrf(d.ID)}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Cookie", cookie)
			w := httptest.NewRecorder()
			one.ServeHTTP(w, r)
			if w.Code != http.StatusSeeOther {
				t.Fatalf("logout: %d %s", w.Code, w.Body)
			}
			for _, a := range []*Admin{one, two} {
				if w := get(a, cookie, "/api/hosts"); w.Code != http.StatusUnauthorized {
					t.Errorf("the logged-out cookie: %d, want 401", w.Code)
				}
			}
			if w := get(two, other, "/api/hosts"); w.Code != 200 {
				t.Errorf("another session of the same user after the logout: %d, want 200", w.Code)
			}
		})
	}
}
