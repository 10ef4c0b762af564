package ratelimit

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// envRateLimits is the environment variable ParseLimits reads.
const envRateLimits = "SMSFLEET_RATE_LIMITS"

const (
	// maxRate bounds rates so that the default burst and the limiter's
	// arithmetic stay far from overflow; no operator accepts a million
	// segments per second from one sender.
	maxRate = 1e6
	// maxBurst keeps bursts within a 32-bit integer (Redis Lua numbers).
	maxBurst = math.MaxInt32
	// maxProviderLen is the longest provider name.
	maxProviderLen = 32
)

// Limit is a rate in segments per second with a burst (how many segments may
// go at once above the steady rate).
type Limit struct {
	Rate  float64
	Burst int
}

// defaultBurst is the burst of a limit written without one: ceil(rate), one
// second's worth of segments, which is what GCRA-style limiters commonly use.
// Rounding up keeps it at least 1, so a slow operator (rate 1, or 0.5)
// still lets one SMS go at once instead of blocking everything, as a zero
// burst would.
func defaultBurst(rate float64) int {
	return max(1, int(math.Ceil(rate)))
}

// Configured is one configured limit, as listed by Limits.Configured.
type Configured struct {
	Key   string // the limiter key, as For returns it ("op:DE:T-Mobile", "pair:sim-a/DE", "default", ...)
	Limit Limit
}

// Limits are the configured rate limits. The zero value has no limits. A
// Limits is immutable once parsed and safe for concurrent use.
type Limits struct {
	// byKey holds "default", country ("US") and operator ("DE:T-Mobile")
	// limits by their configured key.
	byKey map[string]limitEntry
	// byPair holds provider pair limits: provider -> country or operator
	// key -> limit.
	byPair map[string]map[string]limitEntry
}

type limitEntry struct {
	conf Configured // limiter key and limit
	spec string     // the key as written in SMSFLEET_RATE_LIMITS
}

// ParseLimits reads SMSFLEET_RATE_LIMITS: entries "key=rate[/burst]" separated
// by commas, e.g.
//
//	DE:T-Mobile=50,FR:SFR=20/40,US=100,default=500,sim-a/DE:T-Mobile=30
//
// key is one of
//   - "default": the global default;
//   - a country, CC (an upper-case ISO 3166 alpha-2 code, e.g. "US");
//   - an operator, CC:Name, as Operators.Of returns it ("DE:T-Mobile",
//     "GB:Vodafone"; the name is case-sensitive and may contain spaces and
//     '/', but not ',' or '='; the few carrier names with a comma can be
//     given another name with an operator override, or limited by country);
//   - a provider and a country or operator, "provider/CC" or
//     "provider/CC:Name", provider matching [a-z0-9-]{1,32}.
//
// rate is a positive decimal number of segments per second (digits and an
// optional fraction, at most 1000000). Zero is refused: a zero rate makes
// Redis GCRA limiters fail at send time, so it is caught at start-up instead.
// burst is a positive integer; without it the burst is ceil(rate), at least
// 1: one second's worth (see defaultBurst).
//
// Whitespace around entries, keys and values is ignored; an empty (or
// all-space) string means no limits. Empty entries, duplicate keys and
// malformed entries are errors naming the entry by its 1-based position, e.g.
// `SMSFLEET_RATE_LIMITS entry 3 "US=0": rate must be positive`.
func ParseLimits(s string) (Limits, error) {
	var l Limits
	if strings.TrimSpace(s) == "" {
		return l, nil
	}
	first := map[string]int{} // configured key -> entry number
	for i, raw := range strings.Split(s, ",") {
		n := i + 1
		entry := strings.TrimSpace(raw)
		fail := func(format string, args ...any) (Limits, error) {
			return Limits{}, fmt.Errorf("%s entry %d %q: %s", envRateLimits, n, entry, fmt.Sprintf(format, args...))
		}
		if entry == "" {
			return fail("empty entry (stray comma?)")
		}
		key, value, ok := strings.Cut(entry, "=")
		if !ok {
			return fail("want key=rate or key=rate/burst")
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		provider, opKey, err := parseLimitKey(key)
		if err != nil {
			return fail("%v", err)
		}
		lim, err := parseLimitValue(value)
		if err != nil {
			return fail("%v", err)
		}
		spec := opKey
		if provider != "" {
			spec = provider + "/" + opKey
		}
		if m, dup := first[spec]; dup {
			return fail("duplicate key %q (already set by entry %d)", spec, m)
		}
		first[spec] = n
		l.add(provider, opKey, lim)
	}
	return l, nil
}

// add records a limit; provider is "" for non-pair keys.
func (l *Limits) add(provider, opKey string, lim Limit) {
	if provider == "" {
		if l.byKey == nil {
			l.byKey = map[string]limitEntry{}
		}
		l.byKey[opKey] = limitEntry{conf: Configured{Key: limiterKey(opKey), Limit: lim}, spec: opKey}
		return
	}
	if l.byPair == nil {
		l.byPair = map[string]map[string]limitEntry{}
	}
	if l.byPair[provider] == nil {
		l.byPair[provider] = map[string]limitEntry{}
	}
	spec := provider + "/" + opKey
	l.byPair[provider][opKey] = limitEntry{conf: Configured{Key: "pair:" + spec, Limit: lim}, spec: spec}
}

// limiterKey is the limiter key of a non-pair configured key.
func limiterKey(opKey string) string {
	switch {
	case opKey == DefaultKey:
		return DefaultKey
	case len(opKey) == 2:
		return "country:" + opKey
	default:
		return "op:" + opKey
	}
}

// parseLimitKey splits a configured key into its provider ("" if none) and
// its "default", country or operator key.
func parseLimitKey(key string) (provider, opKey string, err error) {
	if key == "" {
		return "", "", fmt.Errorf("key is empty")
	}
	if key == DefaultKey {
		return "", DefaultKey, nil
	}
	// Operator names may contain '/' ("KZ:Kcell/Activ") but always follow a
	// ':', while a provider name contains no ':'. So a '/' before any ':'
	// marks a provider pair.
	slash, colon := strings.IndexByte(key, '/'), strings.IndexByte(key, ':')
	if slash >= 0 && (colon < 0 || slash < colon) {
		provider, opKey = key[:slash], key[slash+1:]
		if !validProvider(provider) {
			return "", "", fmt.Errorf("provider name %q must match [a-z0-9-]{1,%d}", provider, maxProviderLen)
		}
		if opKey == DefaultKey {
			return "", "", fmt.Errorf("a provider pair needs a country or operator, not %q", DefaultKey)
		}
		if opKey == "" {
			return "", "", fmt.Errorf("country or operator after %q is empty", provider+"/")
		}
		if err := checkOperatorKey(opKey); err != nil {
			return "", "", err
		}
		return provider, opKey, nil
	}
	if !isUpper(key[0]) {
		return "", "", fmt.Errorf("key %q must be %q, CC, CC:Name, provider/CC or provider/CC:Name", key, DefaultKey)
	}
	if err := checkOperatorKey(key); err != nil {
		return "", "", err
	}
	return "", key, nil
}

func validProvider(p string) bool {
	if len(p) == 0 || len(p) > maxProviderLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// parseLimitValue parses "rate" or "rate/burst".
func parseLimitValue(v string) (Limit, error) {
	rateStr, burstStr, hasBurst := strings.Cut(v, "/")
	rateStr = strings.TrimSpace(rateStr)
	if rateStr == "" {
		return Limit{}, fmt.Errorf("rate is missing")
	}
	if strings.HasPrefix(rateStr, "-") {
		return Limit{}, fmt.Errorf("rate must be positive")
	}
	rate, err := strconv.ParseFloat(rateStr, 64)
	if err != nil || strings.Trim(rateStr, "0123456789.") != "" {
		return Limit{}, fmt.Errorf("rate %q is not a decimal number of segments per second", rateStr)
	}
	if rate <= 0 {
		return Limit{}, fmt.Errorf("rate must be positive")
	}
	if rate > maxRate {
		return Limit{}, fmt.Errorf("rate %s is too large (at most %d)", rateStr, int(maxRate))
	}
	lim := Limit{Rate: rate, Burst: defaultBurst(rate)}
	if !hasBurst {
		return lim, nil
	}
	burstStr = strings.TrimSpace(burstStr)
	if burstStr == "" {
		return Limit{}, fmt.Errorf("burst after '/' is missing")
	}
	if strings.Trim(burstStr, "0123456789") != "" {
		return Limit{}, fmt.Errorf("burst %q must be a positive integer", burstStr)
	}
	burst, err := strconv.Atoi(burstStr)
	if err != nil || burst > maxBurst {
		return Limit{}, fmt.Errorf("burst %s is too large (at most %d)", burstStr, maxBurst)
	}
	if burst <= 0 {
		return Limit{}, fmt.Errorf("burst must be positive")
	}
	lim.Burst = burst
	return lim, nil
}

// For returns the limit that applies to an SMS to op through provider: the
// most specific configured one of, in order,
//
//	provider/operator  key "pair:sim-a/DE:T-Mobile"
//	provider/country   key "pair:sim-a/DE"
//	operator           key "op:DE:T-Mobile"
//	country            key "country:DE"
//	default            key "default"
//
// key is the limiter key to use; ok is false when nothing applies
// (unlimited). provider may be "" (no pair limits apply).
//
// Only the most specific limit applies. An operator limit is the operator's
// cap on a sender, shared by all providers, whereas a provider pair limit is
// meant as an extra, narrower limit on one route; strictly both should be
// enforced. For deliberately keeps to one limit per SMS: traffic through a
// provider with a pair limit counts against the pair key only, not against
// the operator key, so when pair limits exist the operator limit should be
// set at or above the sum of the traffic that can bypass it (or the pair
// limits sized so that their sum stays under the operator's cap).
func (l Limits) For(provider string, op Operator) (key string, lim Limit, ok bool) {
	hasOp := len(op.Key) > 3 && op.Key[2] == ':'
	country := op.Country
	if country == "" && (hasOp || len(op.Key) == 2) && isUpper(op.Key[0]) && isUpper(op.Key[1]) {
		country = op.Key[:2] // an Operator built by hand without Country
	}
	if provider != "" {
		if m := l.byPair[provider]; m != nil {
			if hasOp {
				if e, ok := m[op.Key]; ok {
					return e.conf.Key, e.conf.Limit, true
				}
			}
			if country != "" {
				if e, ok := m[country]; ok {
					return e.conf.Key, e.conf.Limit, true
				}
			}
		}
	}
	if hasOp {
		if e, ok := l.byKey[op.Key]; ok {
			return e.conf.Key, e.conf.Limit, true
		}
	}
	if country != "" {
		if e, ok := l.byKey[country]; ok {
			return e.conf.Key, e.conf.Limit, true
		}
	}
	if e, ok := l.byKey[DefaultKey]; ok {
		return e.conf.Key, e.conf.Limit, true
	}
	return "", Limit{}, false
}

// Configured lists every configured limit under its limiter key (as For
// returns it), sorted by key, for the status endpoint.
func (l Limits) Configured() []Configured {
	entries := l.entries()
	out := make([]Configured, len(entries))
	for i, e := range entries {
		out[i] = e.conf
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// len is the number of configured limits.
func (l Limits) len() int {
	n := len(l.byKey)
	for _, m := range l.byPair {
		n += len(m)
	}
	return n
}

// String renders the limits in SMSFLEET_RATE_LIMITS syntax, sorted by key,
// with the burst omitted when it is the default; ParseLimits(l.String())
// gives back l.
func (l Limits) String() string {
	entries := l.entries()
	sort.Slice(entries, func(i, j int) bool { return entries[i].spec < entries[j].spec })
	var b strings.Builder
	for i, e := range entries {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e.spec)
		b.WriteByte('=')
		b.WriteString(strconv.FormatFloat(e.conf.Limit.Rate, 'f', -1, 64))
		if e.conf.Limit.Burst != defaultBurst(e.conf.Limit.Rate) {
			b.WriteByte('/')
			b.WriteString(strconv.Itoa(e.conf.Limit.Burst))
		}
	}
	return b.String()
}

func (l Limits) entries() []limitEntry {
	out := make([]limitEntry, 0, l.len())
	for _, e := range l.byKey {
		out = append(out, e)
	}
	for _, m := range l.byPair {
		for _, e := range m {
			out = append(out, e)
		}
	}
	return out
}
