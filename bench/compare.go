package bench

import (
	"fmt"
	"slices"
	"time"
)

// contender is one server under a load in a comparison.
type contender struct {
	name string
	load Load
}

// compared is a contender's outcome over all rounds.
type compared struct {
	name   string
	rounds []LoadResult
	pooled LoadResult // all rounds together
	// ratio is the median over rounds of this contender's req/s divided
	// by the first contender's (the baseline) in the same round.
	ratio float64
}

// compare loads the contenders in turn, round after round, each for its
// own short window: a baseline and the servers measured against it always
// run seconds apart, so anything else on the machine (other builds, other
// tests) weighs on all of them alike instead of on whichever ran while it
// was busy. The first contender is the baseline.
func (e *env) compare(rounds int, cs ...contender) ([]compared, error) {
	out := make([]compared, len(cs))
	for i, c := range cs {
		out[i].name = c.name
	}
	for r := range rounds {
		for i, c := range cs {
			e.progress("  round %d/%d: %s", r+1, rounds, c.name)
			res, err := c.load.Run(e.ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			out[i].rounds = append(out[i].rounds, res)
		}
	}
	for i := range out {
		var all []time.Duration
		p := &out[i].pooled
		var ratios []float64
		for r, res := range out[i].rounds {
			all = append(all, res.latencies...)
			p.Requests += res.Requests
			p.Errors += res.Errors
			p.BadStatus += res.BadStatus
			p.Elapsed += res.Elapsed
			ratios = append(ratios, res.RPS()/out[0].rounds[r].RPS())
		}
		p.Latency = percentiles(all)
		out[i].ratio = median(ratios)
	}
	return out, nil
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// describeRounds lists each round's throughput, to show how steady it was.
func describeRounds(c compared) string {
	s := ""
	for i, r := range c.rounds {
		if i > 0 {
			s += ", "
		}
		s += groupThousands(int64(r.RPS() + 0.5))
	}
	return s + " req/s"
}
