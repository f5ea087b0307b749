package config

// Defaults that bound what the internet can make a waitingroom spend
// (docs/SECURITY.md, "Defaults"). They are for a small VM (1–2 GB, a few
// dozen hosts); raise them in the file where more is needed.

// DefaultBudgets are the wake budgets in force when budgets: does not set
// them (0 in the file turns one off):
//
//   - max_wakes_per_day 48: with the default 30-minute idle timeout, 48
//     wakes can keep a host up all day at most, so a bot day costs no more
//     than never sleeping; a person's use rarely needs a tenth of it.
//   - max_wakes_per_hour 6: one start per 10 minutes sustained; a crawler
//     burst cannot restart a host every minute.
//   - client_wakes_per_hour 30: one address waking 30 sleeping hosts in an
//     hour is a scan, not a person.
//   - prefix_wakes_per_hour 120: a /24 or /64 (an office, a NAT) gets four
//     times one client's share before it is refused.
//   - max_concurrent_starts 10: starts fork commands, pull images, boot
//     VMs; ten at once is what a small machine and its API quotas take.
func DefaultBudgets() map[string]int {
	return map[string]int{
		"max_wakes_per_day": 48, "max_wakes_per_hour": 6,
		"client_wakes_per_hour": 30, "prefix_wakes_per_hour": 120,
		"max_concurrent_starts": 10,
	}
}
