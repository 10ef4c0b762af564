// Package ratelimit maps phone numbers to mobile operators and operators to
// the submission rate limits (SMS segments per second) that apply to them.
package ratelimit

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/nyaruka/phonenumbers/v2"
	"github.com/nyaruka/phonenumbers/v2/carrier"
)

// DefaultKey is the operator key of numbers whose country is unknown, and the
// limits key of the global default limit.
const DefaultKey = "default"

// Operator identifies the mobile network of a number, for rate limiting.
type Operator struct {
	// Key is "<ISO country>:<carrier name>" (e.g. "DE:T-Mobile", "FR:SFR",
	// "NG:MTN"), or the country alone ("US") when there is no carrier data, or
	// "default" when even the country is unknown. Carrier names are
	// libphonenumber's English names, verbatim (spaces, '/' and case kept).
	Key string
	// Country is the ISO 3166 alpha-2 code, "" if unknown.
	Country string
}

var defaultOperator = Operator{Key: DefaultKey}

// unknownRegion is libphonenumber's region for parsing numbers that must
// carry their own country code ("+...").
const unknownRegion = "ZZ"

// supportedRegions are the ISO 3166 alpha-2 codes libphonenumber has
// metadata for. GetRegionCodeForNumber never returns anything else except ""
// and "001" (non-geographic numbers such as +800), so a country outside this
// set can never match a number.
var supportedRegions = phonenumbers.GetSupportedRegions()

const (
	// cachePrefixDigits is how many leading digits of a number key the cache.
	// libphonenumber's carrier data maps prefixes of at most 9 digits
	// (country code included) to carrier names, so all numbers sharing their
	// first 9 digits share a carrier entry.
	cachePrefixDigits = 9
	// defaultCacheSize bounds the cache. One entry is ~150 bytes, so the
	// cache stays under ~2.5 MB; real traffic concentrates on far fewer
	// prefixes than this (the whole carrier data set has ~29,000 of them).
	defaultCacheSize = 1 << 14
	// maxE164Digits is the longest E.164 number (ITU-T E.164 §6.1).
	maxE164Digits = 15
)

// Operators detects the operator of phone numbers. It is safe for concurrent
// use. The zero value works (no overrides, no cache) but is slow; use
// NewOperators.
//
// Parsing a number with libphonenumber and looking its carrier up costs
// ~17 µs and 68 allocations (BenchmarkOperatorOf/uncached), too much to pay
// per SMS. Of therefore caches results keyed by the first 9 digits of the
// number plus its length (a hit costs well under 0.1 µs, no allocation):
//   - the carrier is a function of the first 9 digits (the longest prefix in
//     libphonenumber's carrier data is 9 digits long);
//   - the region and whether the number is valid and mobile (GetNameForNumber
//     only names carriers of mobile numbers) come from the number plan
//     patterns, which in practice are decided by the leading digits and the
//     length; TestOperatorCacheMatchesLookup checks this against
//     libphonenumber's example numbers of every region with their tails
//     randomised.
//
// The cache is a bounded LRU, so memory stays bounded however many distinct
// prefixes are seen.
type Operators struct {
	overrides map[string]Operator // E.164 prefix ("+4915112") -> operator
	ovLens    []int               // distinct override prefix lengths, longest first
	cache     *lru.Cache[uint64, Operator]
}

// NewOperators builds the detector. overrides map E.164 prefixes ("+4915112",
// "+234803") to operator keys ("DE:Telekom", "NG:MTN"), for ported ranges and
// MVNOs; the longest matching prefix wins over carrier data. Prefixes must be
// "+" and 1-15 digits; keys must be CC or CC:Name, CC being an upper-case ISO
// 3166 alpha-2 code known to libphonenumber, Name non-empty, without
// surrounding spaces and without ',' or '=' (which SMSFLEET_RATE_LIMITS could
// not express). The error names the first bad entry in prefix order.
func NewOperators(overrides map[string]string) (*Operators, error) {
	return newOperators(overrides, defaultCacheSize)
}

func newOperators(overrides map[string]string, cacheSize int) (*Operators, error) {
	o := &Operators{overrides: make(map[string]Operator, len(overrides))}
	prefixes := make([]string, 0, len(overrides))
	for p := range overrides {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		key := overrides[p]
		if !isE164(p) {
			return nil, fmt.Errorf("ratelimit: operator override %q => %q: prefix must be \"+\" followed by 1 to %d digits", p, key, maxE164Digits)
		}
		if err := checkOperatorKey(key); err != nil {
			return nil, fmt.Errorf("ratelimit: operator override %q => %q: %w", p, key, err)
		}
		o.overrides[p] = Operator{Key: key, Country: key[:2]}
		if !slices.Contains(o.ovLens, len(p)) {
			o.ovLens = append(o.ovLens, len(p))
		}
	}
	slices.Sort(o.ovLens)
	slices.Reverse(o.ovLens)
	cache, err := lru.New[uint64, Operator](cacheSize)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: operator cache: %w", err)
	}
	o.cache = cache
	return o, nil
}

// Of returns the operator of a number. e164 should be in E.164 form
// ("+4915112345678"); other forms libphonenumber can parse with an explicit
// "+" ("+49 151 1234 5678") are accepted more slowly. Unparseable numbers get
// the "default" operator. Of is safe for concurrent use.
func (o *Operators) Of(e164 string) Operator {
	if !isE164(e164) {
		num, err := phonenumbers.Parse(e164, unknownRegion)
		if err != nil {
			return defaultOperator
		}
		e164 = phonenumbers.Format(num, phonenumbers.E164)
		if !isE164(e164) {
			return defaultOperator
		}
	}
	if o == nil {
		return lookup(e164)
	}
	// Overrides come before the cache: their prefixes may be longer than
	// the cached 9 digits.
	for _, n := range o.ovLens {
		if n <= len(e164) {
			if op, ok := o.overrides[e164[:n]]; ok {
				return op
			}
		}
	}
	if o.cache == nil {
		return lookup(e164)
	}
	k := cacheKey(e164)
	if op, ok := o.cache.Get(k); ok {
		return op
	}
	op := lookup(e164)
	o.cache.Add(k, op)
	return op
}

// lookup asks libphonenumber for the operator of a canonical E.164 number.
func lookup(e164 string) Operator {
	num, err := phonenumbers.Parse(e164, unknownRegion)
	if err != nil {
		return defaultOperator
	}
	region := phonenumbers.GetRegionCodeForNumber(num)
	if !supportedRegions[region] {
		return defaultOperator // "" or "001" (non-geographic, e.g. +800)
	}
	// The error only reports unreadable embedded data; treat it as no data.
	name, err := carrier.GetNameForNumber(num, "en")
	if err != nil || name == "" {
		return Operator{Key: region, Country: region}
	}
	return Operator{Key: region + ":" + name, Country: region}
}

// cacheKey packs the first cachePrefixDigits digits of a canonical E.164
// number and its digit count into an integer. The digit count also fixes how
// many digits the prefix has, so distinct (prefix, length) pairs never
// collide.
func cacheKey(e164 string) uint64 {
	digits := e164[1:]
	var k uint64
	for i := 0; i < len(digits) && i < cachePrefixDigits; i++ {
		k = k*10 + uint64(digits[i]-'0')
	}
	return k<<4 | uint64(len(digits))
}

// isE164 reports whether s is "+" followed by 1 to 15 digits.
func isE164(s string) bool {
	if len(s) < 2 || len(s) > 1+maxE164Digits || s[0] != '+' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkOperatorKey checks that key is CC or CC:Name, as Of produces them.
func checkOperatorKey(key string) error {
	if key == "" {
		return fmt.Errorf("operator key is empty")
	}
	if err := checkCountry(key); err != nil {
		return err
	}
	if len(key) == 2 {
		return nil
	}
	if key[2] != ':' {
		return fmt.Errorf("operator key must be CC or CC:Name (CC an upper-case ISO 3166 alpha-2 code)")
	}
	name := key[3:]
	switch {
	case name == "":
		return fmt.Errorf("operator name after %q is empty", key[:3])
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("operator name %q has leading or trailing spaces", name)
	case strings.ContainsAny(name, ",="):
		return fmt.Errorf("operator name %q contains ',' or '=', which SMSFLEET_RATE_LIMITS cannot express", name)
	}
	return nil
}

// checkCountry checks that key starts with a known upper-case ISO 3166
// alpha-2 code.
func checkCountry(key string) error {
	if len(key) < 2 || !isUpper(key[0]) || !isUpper(key[1]) {
		return fmt.Errorf("operator key must start with an upper-case ISO 3166 alpha-2 country code (CC or CC:Name)")
	}
	cc := key[:2]
	if !supportedRegions[cc] {
		if cc == "UK" {
			return fmt.Errorf("unknown country code %q (the ISO 3166 code of the United Kingdom is GB)", cc)
		}
		return fmt.Errorf("unknown country code %q", cc)
	}
	return nil
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
