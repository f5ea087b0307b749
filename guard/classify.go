package guard

import "github.com/waitingroom/waitingroom/internal/clientclass"

// Class is what kind of client sent a request (internal/clientclass, the
// one classifier). Its string value goes into controller.Client.Class.
type Class = clientclass.Class

// The classes the classifier assigns.
const (
	ClassBrowser  = clientclass.ClassBrowser
	ClassBot      = clientclass.ClassBot
	ClassMonitor  = clientclass.ClassMonitor
	ClassPrefetch = clientclass.ClassPrefetch
	ClassAPI      = clientclass.ClassAPI
)
