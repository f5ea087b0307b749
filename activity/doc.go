// Package activity tells the controller's idle sweep about use that is not
// a request through Traefik, and keeps uptime monitors from counting as use:
//
//   - Warm: warm windows ("0 9 * * 1-5 for 9h"), woken at each start and
//     busy while open;
//   - Heartbeat: POST /api/hosts/{host}/touch with a per-host token, for
//     backends doing work nobody requests (batch jobs);
//   - KeepAwake: busy while a host's keep_awake_while URL answers 2xx;
//   - Connections: busy while the backend's port has established TCP
//     connections (WebSocket, SSE, long downloads), read from /proc;
//   - AdoptFilter: leaves alone backends found running without a wake when
//     their provider says adopt: false;
//   - Monitors: recognises uptime monitors so they neither wake a host nor
//     count as activity, and answers them.
//
// The busy checkers implement controller.BusyChecker; they are consulted
// only by the idle sweep, for running hosts whose last activity is older
// than their idle timeout, and never record activity themselves.
package activity
