package config

import (
	"fmt"
	"regexp"
	"strings"
)

// Route is where an application's SMS go: providers in order (the first
// healthy one takes the send, the next ones are fallbacks), optionally a
// weighted split of first choices among the healthy ones, and overrides
// for countries (ISO code, "NG") or number prefixes ("+234803"); the
// longest matching prefix wins, then the country.
type Route struct {
	Providers []string            `yaml:"providers"`
	Weights   map[string]int      `yaml:"weights"`
	Overrides map[string][]string `yaml:"overrides"`
}

var (
	countryCode = regexp.MustCompile(`^[A-Z]{2}$`)
	prefixCode  = regexp.MustCompile(`^\+[0-9]{1,15}$`)
)

func (r Route) validate(where string, known map[string]bool) error {
	if len(r.Providers) == 0 {
		return fmt.Errorf("%s: route has no providers", where)
	}
	check := func(list []string, what string) error {
		seen := map[string]bool{}
		for _, p := range list {
			if !known[p] {
				return fmt.Errorf("%s: %s names unknown provider %q", where, what, p)
			}
			if seen[p] {
				return fmt.Errorf("%s: %s lists %q twice", where, what, p)
			}
			seen[p] = true
		}
		return nil
	}
	if err := check(r.Providers, "providers"); err != nil {
		return err
	}
	for p, w := range r.Weights {
		if !known[p] {
			return fmt.Errorf("%s: weights name unknown provider %q", where, p)
		}
		if w < 0 {
			return fmt.Errorf("%s: weight of %s must not be negative", where, p)
		}
	}
	for key, list := range r.Overrides {
		if !countryCode.MatchString(key) && !prefixCode.MatchString(key) {
			return fmt.Errorf("%s: override key %q must be a country (NG) or a number prefix (+234)", where, key)
		}
		if len(list) == 0 {
			return fmt.Errorf("%s: override %s has no providers", where, key)
		}
		if err := check(list, "override "+key); err != nil {
			return err
		}
	}
	return nil
}

// parseRoute reads SMSFLEET_ROUTE: provider names in order, comma-separated.
func parseRoute(s string) Route {
	var r Route
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			r.Providers = append(r.Providers, p)
		}
	}
	return r
}
