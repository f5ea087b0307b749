package providers

import (
	"fmt"

	"github.com/waitingroom/waitingroom/controller"
)

// MergeHosts adds discovered hosts to the hosts of the configuration file.
// The file wins: a discovered host whose name the file already registers is
// dropped, and so is a second discovered host of the same name. Each drop is
// reported in conflicts, in words an operator can act on. merged holds the
// file's hosts in their order, then the surviving discovered ones in theirs.
// Neither input is modified.
func MergeHosts(file, discovered []controller.Host) (merged []controller.Host, conflicts []string) {
	merged = make([]controller.Host, 0, len(file)+len(discovered))
	from := make(map[string]controller.Host, len(file)+len(discovered))
	for _, h := range file {
		merged = append(merged, h)
		from[h.Name] = h
	}
	for _, h := range discovered {
		prev, taken := from[h.Name]
		if !taken {
			merged = append(merged, h)
			from[h.Name] = h
			continue
		}
		conflicts = append(conflicts, fmt.Sprintf("host %q from %s is ignored: %s already registers it",
			h.Name, describe(h), describe(prev)))
	}
	return merged, conflicts
}

// describe says where a registration came from.
func describe(h controller.Host) string {
	switch {
	case h.Origin == "" || h.Origin == "file":
		return "the configuration file"
	case h.Target.Backend != nil:
		return fmt.Sprintf("%s (%s)", h.Origin, h.Target.Backend)
	default:
		return h.Origin
	}
}
