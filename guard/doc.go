// Package guard keeps wakes, which cost money, for people who want them.
//
// A request reaches the public listener; before it may start a backend:
//
//  1. ClientIP finds who sent it: the connection's peer, or the client
//     named by X-Forwarded-For / X-Real-Ip when (and only when) the peer
//     is a trusted proxy.
//  2. Hasher turns that address into keys (HMAC, rotated daily: see
//     KeyRotation) so budgets can count a client without storing its
//     address; Truncate/Display is what logs, the dashboard and webhooks
//     show.
//  3. Classifier and WakeDecision let crawlers, link previews, uptime
//     monitors, prefetches and HEAD requests see the page without waking
//     anything. Hosts in `wake: click` mode wake only on a POST carrying a
//     Tokens token (see WakePath for the form the page renders).
//  4. Budgets, the controller's WakeGate, caps wakes per host per day and
//     hour, per client and per network per hour, concurrent starts, and
//     shuts out honeypot visitors, with every counter in the shared Store.
//
// The honeypot: the waiting page carries a link no person follows
// (invisible, aria-hidden, tabindex=-1, rel=nofollow, and disallowed in
// robots.txt so polite crawlers skip it). A client whose own navigation on
// the site follows it (IsOwnNavigation: not an <img> or link on another
// site, which anyone could plant) is passed to Budgets.Honeypot and cannot
// wake that host from that address for a day; the page tells it why.
//
// Nothing here reads the whole request into the domain: the controller
// receives a controller.Client holding the hashed key, the truncated
// address and the class only.
package guard
