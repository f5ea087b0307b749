package activity

import "slices"

// WarmJobNames lists the scheduled warm jobs' names, sorted.
func WarmJobNames(w *Warm) []string {
	var out []string
	for _, j := range w.cron.Jobs() {
		if slices.Contains(j.Tags(), "warm") {
			out = append(out, j.Name())
		}
	}
	slices.Sort(out)
	return out
}

// WarmJobIDs maps the scheduled warm jobs' names to their IDs.
func WarmJobIDs(w *Warm) map[string]string {
	out := map[string]string{}
	for _, j := range w.cron.Jobs() {
		out[j.Name()] = j.ID().String()
	}
	return out
}
