package route

import (
	"math/rand/v2"

	"github.com/nyaruka/phonenumbers/v2"
)

// Control is the live part of routing (internal/traffic's Watcher): the
// operator's drains and weights, and each provider's delivery quality.
// Every pod polls it from Redis, so a change applies fleet-wide without a
// restart.
type Control interface {
	// Drained providers take no new SMS: they are left out of the
	// candidates, as if their breaker were open (an SMS bound to one by an
	// ambiguous failure still goes to it: only it can recognise the retry).
	Drained(provider string) bool
	// Weight is the operator's weight, replacing the configured one.
	Weight(provider string) (int, bool)
	// Factor (0..1] is the share of its weight a provider keeps for its
	// delivery quality to phones of country (ISO code, "" unknown).
	Factor(provider, country string) float64
}

// SetControl makes the router follow c; call it before the first SMS.
func (r *Router) SetControl(c Control) { r.ctl = c }

// undrained is a copy of names without the drained providers.
func (r *Router) undrained(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if r.ctl == nil || !r.ctl.Drained(n) {
			out = append(out, n)
		}
	}
	return out
}

// effectiveWeights are the weights a route's first choice is drawn by:
// the configured ones, replaced by the operator's where set, times each
// provider's quality factor. Nil when neither the route nor the operator
// sets a weight (the route is a plain order: see demoted).
func (r *Router) effectiveWeights(names []string, configured map[string]int, country string) map[string]float64 {
	var out map[string]float64
	for _, n := range names {
		w, ok := configured[n]
		if r.ctl != nil {
			if ow, set := r.ctl.Weight(n); set {
				w, ok = ow, true
			}
		}
		if !ok {
			continue
		}
		if out == nil {
			out = make(map[string]float64, len(names))
		}
		out[n] = float64(w) * r.factor(n, country)
	}
	if out == nil {
		return nil
	}
	// A provider the route orders but no weight names keeps weight 0, as
	// before: it is only a fallback.
	return out
}

// demoted applies the quality factors to a route without weights: a
// provider with factor f keeps its place with probability f and is moved
// behind the others otherwise, so its share of first choices falls to
// about f of what it was.
func (r *Router) demoted(names []string, country string) {
	if r.ctl == nil {
		return
	}
	keep := names[:0:0]
	var back []string
	for _, n := range names {
		if f := r.factor(n, country); f < 1 && rand.Float64() >= f {
			back = append(back, n)
			continue
		}
		keep = append(keep, n)
	}
	copy(names, append(keep, back...))
}

func (r *Router) factor(n, country string) float64 {
	if r.ctl == nil {
		return 1
	}
	return r.ctl.Factor(n, country)
}

// CountryOf is the ISO code of phone's country ("" when unknown): the
// quality figures are kept per provider × country.
func CountryOf(phone string) string {
	num, err := phonenumbers.Parse(phone, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(num)
}
