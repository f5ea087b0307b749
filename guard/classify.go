package guard

import (
	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/internal/clientclass"
)

// Class is what kind of client sent a request (internal/clientclass, the
// one classifier). Its string value goes into controller.Client.Class.
type Class = clientclass.Class

// The classes Classify assigns.
const (
	ClassBrowser  = clientclass.ClassBrowser
	ClassBot      = clientclass.ClassBot
	ClassMonitor  = clientclass.ClassMonitor
	ClassPrefetch = clientclass.ClassPrefetch
	ClassAPI      = clientclass.ClassAPI
)

// Classifier sorts requests into Classes.
type Classifier = clientclass.Classifier

// NewClassifier builds a Classifier from the bots and monitors settings:
// their user_agents extend the built-in lists (case-insensitive
// substrings), monitors.paths marks exact request paths as monitor checks,
// and bots.wake_on_head / wake_on_prefetch feed WakeDecision.
func NewClassifier(bots config.Bots, monitors config.Monitors) *Classifier {
	return clientclass.New(clientclass.Options{
		BotUserAgents:     bots.UserAgents,
		MonitorUserAgents: monitors.UserAgents,
		MonitorPaths:      monitors.Paths,
		Wake:              wakeRules(bots),
	})
}

// WakeDecision says whether a request of this class and method may wake a
// sleeping backend under the bots settings (clientclass.WakeDecision).
func WakeDecision(class Class, method string, bots config.Bots) (wake bool, why string) {
	return clientclass.WakeDecision(class, method, wakeRules(bots))
}

func wakeRules(b config.Bots) clientclass.WakeRules {
	return clientclass.WakeRules{OnHead: b.WakeOnHead, OnPrefetch: b.WakeOnPrefetch}
}
