package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Prices is what each provider charges per SMS segment, by destination
// country (the configuration file's `prices:`; none: costs are unknown
// and not recorded):
//
//	prices:
//	  currency: EUR            # ISO 4217; every price and sum is in it
//	  providers:
//	    sim-a: {DE: "0.0450", GB: "0.0380", "*": "0.0700"}
//	    sim-b: {"*": "0.0500"}
//
// A country is an ISO 3166-1 alpha-2 code, as libphonenumber names the
// region of a number; "*" is every other country. Prices are decimal
// strings with at most six decimals, kept as integer millionths
// (Micros) so that sums over millions of SMS are exact.
type Prices struct {
	Currency  string                       `yaml:"currency"`
	Providers map[string]map[string]string `yaml:"providers"`
}

// PriceTable is Prices parsed: provider -> country (or "*") -> price per
// segment.
type PriceTable map[string]map[string]Micros

// Micros is an amount in millionths of the currency's unit.
type Micros int64

// String is the amount as a decimal with six places ("0.045000").
func (m Micros) String() string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	return fmt.Sprintf("%s%d.%06d", sign, m/1e6, m%1e6)
}

// Float is the amount in the currency's unit (metrics).
func (m Micros) Float() float64 { return float64(m) / 1e6 }

// Of is the price per segment of an SMS through provider to country, and
// whether one is configured (the country's, else the provider's "*").
func (p PriceTable) Of(provider, country string) (Micros, bool) {
	t, ok := p[provider]
	if !ok {
		return 0, false
	}
	if m, ok := t[country]; ok {
		return m, true
	}
	m, ok := t["*"]
	return m, ok
}

var (
	// countryCode is route.go's.
	currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)
	priceValue   = regexp.MustCompile(`^[0-9]{1,9}(\.[0-9]{1,6})?$`)
)

// Table parses the prices (nil when none are configured); validation
// has checked them, and that each provider exists.
func (p Prices) Table() (PriceTable, error) {
	if len(p.Providers) == 0 {
		if p.Currency != "" {
			return nil, fmt.Errorf("config: SMSFLEET_CONFIG prices: currency %s without any provider's prices", p.Currency)
		}
		return nil, nil
	}
	if !currencyCode.MatchString(p.Currency) {
		return nil, fmt.Errorf("config: SMSFLEET_CONFIG prices.currency: %q is not an ISO 4217 code such as EUR", p.Currency)
	}
	table := make(PriceTable, len(p.Providers))
	for prov, byCountry := range p.Providers {
		t := make(map[string]Micros, len(byCountry))
		for country, v := range byCountry {
			field := "prices.providers." + prov + "." + country
			if country != "*" && !countryCode.MatchString(country) {
				return nil, fmt.Errorf("config: SMSFLEET_CONFIG %s: %q is not an ISO 3166-1 alpha-2 country code (such as DE) or \"*\"", field, country)
			}
			m, err := parseMicros(v)
			if err != nil {
				return nil, fmt.Errorf("config: SMSFLEET_CONFIG %s: %w", field, err)
			}
			t[country] = m
		}
		table[prov] = t
	}
	return table, nil
}

// validate checks the prices, and that each names a provider the fleet
// sends through (known).
func (p Prices) validate(known map[string]bool) error {
	for prov := range p.Providers {
		if !known[prov] {
			return fmt.Errorf("config: SMSFLEET_CONFIG prices.providers.%s: no such provider", prov)
		}
	}
	_, err := p.Table()
	return err
}

// parseMicros reads a non-negative decimal with at most six decimals.
func parseMicros(v string) (Micros, error) {
	if !priceValue.MatchString(v) {
		return 0, fmt.Errorf("%q is not a price: a non-negative decimal with at most six decimals, as a string (\"0.0450\")", v)
	}
	whole, frac, _ := strings.Cut(v, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("price %q: %w", v, err)
	}
	frac += strings.Repeat("0", 6-len(frac))
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("price %q: %w", v, err)
	}
	return Micros(w*1e6 + f), nil
}
