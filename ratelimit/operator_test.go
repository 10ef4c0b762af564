package ratelimit

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers/v2"
)

// operatorCases are the carriers libphonenumber v2.0.7 (carrier data "en")
// reports; they document what keys SMSFLEET_RATE_LIMITS has to use.
var operatorCases = []struct {
	number string
	want   Operator
}{
	{"+4915112345678", Operator{"DE:T-Mobile", "DE"}}, // not "Telekom"
	{"+4917612345678", Operator{"DE:O2", "DE"}},
	{"+4917212345678", Operator{"DE:Vodafone", "DE"}},
	{"+4915212345678", Operator{"DE:Vodafone/Lycamobile", "DE"}}, // '/' in the name
	// +44 7911 1xxxxx is a Guernsey (JT) range, not GB Vodafone.
	{"+447911123456", Operator{"GG:JT", "GG"}},
	{"+447787123456", Operator{"GB:Vodafone", "GB"}},
	{"+447624123456", Operator{"IM:Manx Telecom", "IM"}}, // space in the name
	{"+33612345678", Operator{"FR:SFR", "FR"}},
	{"+2348031234567", Operator{"NG:MTN", "NG"}},
	{"+77012345678", Operator{"KZ:Kcell/Activ", "KZ"}}, // +7 shared by RU and KZ
	{"+12423570000", Operator{"BS:BaTelCo", "BS"}},     // +1 shared by NANP countries
	// Countries without carrier data: US (libphonenumber has none), RU.
	{"+14155550123", Operator{"US", "US"}},
	{"+79161234567", Operator{"RU", "RU"}},
	// Carriers are only named for mobile numbers.
	{"+4930123456", Operator{"DE", "DE"}},
	// Invalid numbers in a single-country code still have a country.
	{"+491511234567", Operator{"DE", "DE"}},
	// Non-canonical forms are accepted.
	{"+49 151 1234 5678", Operator{"DE:T-Mobile", "DE"}},
	{"+49-151-12345678", Operator{"DE:T-Mobile", "DE"}},
	// Unknown country.
	{"+999123456", Operator{"default", ""}},        // unassigned country code
	{"+12345", Operator{"default", ""}},            // +1 but no NANP region
	{"+80012345678", Operator{"default", ""}},      // non-geographic (region "001")
	{"+4915112345678901", Operator{"default", ""}}, // too long
	{"4915112345678", Operator{"default", ""}},     // no "+"
	{"not a number", Operator{"default", ""}},
	{"+", Operator{"default", ""}},
	{"", Operator{"default", ""}},
}

func TestOperatorOf(t *testing.T) {
	ops, err := NewOperators(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, pass := range []string{"cold", "cached"} {
		for _, tc := range operatorCases {
			if got := ops.Of(tc.number); got != tc.want {
				t.Errorf("%s: Of(%q) = %+v, want %+v", pass, tc.number, got, tc.want)
			}
		}
	}
	// The zero value and a nil *Operators work too, uncached.
	for _, o := range []*Operators{{}, nil} {
		for _, tc := range operatorCases {
			if got := o.Of(tc.number); got != tc.want {
				t.Errorf("%#v.Of(%q) = %+v, want %+v", o, tc.number, got, tc.want)
			}
		}
	}
}

func TestOperatorOfOverrides(t *testing.T) {
	ops, err := NewOperators(map[string]string{
		"+49151":   "DE:Telekom",
		"+4915112": "DE:Congstar",   // longer prefix wins
		"+491511":  "DE:Mid",        // in between
		"+234803":  "NG:MTN Ported", // same as carrier data, renamed
		"+1415555": "US:Some MVNO",  // names a carrier where libphonenumber has none
		"+1":       "CA",            // country-only override
		"+33":      "FR",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		number string
		want   Operator
	}{
		{"+4915112345678", Operator{"DE:Congstar", "DE"}},
		{"+4915112999999", Operator{"DE:Congstar", "DE"}},
		{"+4915113345678", Operator{"DE:Mid", "DE"}},
		{"+4915123456789", Operator{"DE:Telekom", "DE"}},
		{"+49 151 12 345678", Operator{"DE:Congstar", "DE"}}, // normalised first
		{"+4917612345678", Operator{"DE:O2", "DE"}},          // no override: carrier data
		{"+2348031234567", Operator{"NG:MTN Ported", "NG"}},
		{"+14155550123", Operator{"US:Some MVNO", "US"}},
		{"+14165550123", Operator{"CA", "CA"}},
		{"+33612345678", Operator{"FR", "FR"}},
		{"+447787123456", Operator{"GB:Vodafone", "GB"}},
		{"+4915", Operator{"DE", "DE"}}, // shorter than every matching prefix
	}
	for _, pass := range []string{"cold", "cached"} {
		for _, tc := range tests {
			if got := ops.Of(tc.number); got != tc.want {
				t.Errorf("%s: Of(%q) = %+v, want %+v", pass, tc.number, got, tc.want)
			}
		}
	}
}

func TestNewOperatorsValidation(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]string
		wantErr   string // substring; "" means valid
	}{
		{"nil", nil, ""},
		{"empty", map[string]string{}, ""},
		{"valid", map[string]string{"+4915112": "DE:Telekom", "+1": "US", "+234803": "NG:MTN", "+123456789012345": "CA:A b/c"}, ""},
		{"no plus", map[string]string{"4915112": "DE:Telekom"}, `operator override "4915112" => "DE:Telekom": prefix must be "+" followed by 1 to 15 digits`},
		{"plus only", map[string]string{"+": "DE:Telekom"}, `override "+" => "DE:Telekom": prefix must be`},
		{"16 digits", map[string]string{"+1234567890123456": "US"}, `override "+1234567890123456" => "US": prefix must be`},
		{"space", map[string]string{"+49 151": "DE:Telekom"}, `override "+49 151" => "DE:Telekom": prefix must be`},
		{"letter", map[string]string{"+49a": "DE"}, `prefix must be`},
		{"empty prefix", map[string]string{"": "DE"}, `override "" => "DE": prefix must be`},
		{"empty key", map[string]string{"+49": ""}, `override "+49" => "": operator key is empty`},
		{"lower case", map[string]string{"+49": "de:Telekom"}, `override "+49" => "de:Telekom": operator key must start with an upper-case ISO 3166 alpha-2 country code`},
		{"one letter", map[string]string{"+49": "D"}, `must start with an upper-case ISO 3166`},
		{"unknown country", map[string]string{"+49": "XX:Telekom"}, `override "+49" => "XX:Telekom": unknown country code "XX"`},
		{"UK", map[string]string{"+44": "UK:Vodafone"}, `unknown country code "UK" (the ISO 3166 code of the United Kingdom is GB)`},
		{"three letters", map[string]string{"+49": "DEU"}, `override "+49" => "DEU": operator key must be CC or CC:Name`},
		{"wrong separator", map[string]string{"+49": "DE/Telekom"}, `operator key must be CC or CC:Name`},
		{"empty name", map[string]string{"+49": "DE:"}, `override "+49" => "DE:": operator name after "DE:" is empty`},
		{"padded name", map[string]string{"+49": "DE: Telekom"}, `operator name " Telekom" has leading or trailing spaces`},
		{"comma", map[string]string{"+420": "CZ:Alternet, s.r.o."}, `operator name "Alternet, s.r.o." contains ',' or '='`},
		{"equals", map[string]string{"+49": "DE:a=b"}, `contains ',' or '='`},
		{"first bad in prefix order", map[string]string{"+1": "us", "+2": "zz"}, `"+1" => "us"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := NewOperators(tc.overrides)
			if tc.wantErr == "" {
				if err != nil || ops == nil {
					t.Fatalf("NewOperators: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewOperators(%q) succeeded, want error containing %q", tc.overrides, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewOperators(%q) error %q, want it to contain %q", tc.overrides, err, tc.wantErr)
			}
		})
	}
}

// TestOperatorsKeysAreLimitKeys checks that every key Of can produce is one
// ParseLimits accepts, except for carrier names with a comma.
func TestOperatorsKeysAreLimitKeys(t *testing.T) {
	for _, tc := range operatorCases {
		key := tc.want.Key
		if _, err := ParseLimits(key + "=1"); err != nil {
			t.Errorf("ParseLimits(%q): %v", key+"=1", err)
		}
		if _, err := ParseLimits("p/" + key + "=1"); err != nil && key != DefaultKey {
			t.Errorf("ParseLimits(%q): %v", "p/"+key+"=1", err)
		}
	}
}

var cacheSweep = flag.Int("cache-sweep", 1, "numbers per region, type, length and position in TestOperatorCacheMatchesLookup")

// TestOperatorCacheMatchesLookup checks the assumption behind the cache: all
// numbers sharing their first cachePrefixDigits digits and their length get
// the same operator. For every region and number type it takes
// libphonenumber's example number, at its length and a digit shorter or
// longer, randomises its tail from various positions, and compares the
// uncached lookup of that number with the lookup of a number differing from
// it only after the cached prefix. The default checks ~37,000 pairs;
// "go test -run CacheMatches ./ratelimit/ -args -cache-sweep=60" checks 2.25
// million (all agree with libphonenumber v2.0.7).
func TestOperatorCacheMatchesLookup(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (~1 s, ~15 s with -race)")
	}
	samples := *cacheSweep
	rng := rand.New(rand.NewPCG(1, 2))
	regions := make([]string, 0, len(supportedRegions))
	for r := range supportedRegions {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	types := []phonenumbers.PhoneNumberType{
		phonenumbers.MOBILE, phonenumbers.FIXED_LINE, phonenumbers.FIXED_LINE_OR_MOBILE,
		phonenumbers.PAGER, phonenumbers.TOLL_FREE, phonenumbers.VOIP,
		phonenumbers.PERSONAL_NUMBER, phonenumbers.UAN, phonenumbers.PREMIUM_RATE,
		phonenumbers.SHARED_COST, phonenumbers.VOICEMAIL,
	}
	randomTail := func(s string, from int) string {
		b := []byte(s)
		for i := from; i < len(b); i++ {
			b[i] = byte('0' + rng.IntN(10))
		}
		return string(b)
	}
	checked, mobile := 0, 0
	for _, region := range regions {
		for _, typ := range types {
			ex := phonenumbers.GetExampleNumberForTypeInRegion(region, typ)
			if ex == nil {
				continue
			}
			e := phonenumbers.Format(ex, phonenumbers.E164)
			for _, number := range []string{e[:len(e)-1], e, e + "5"} {
				if !isE164(number) {
					continue
				}
				for from := 3; from < len(number); from++ {
					for range samples {
						a := randomTail(number, from)
						b := randomTail(a, 1+cachePrefixDigits)
						if cacheKey(a) != cacheKey(b) {
							t.Fatalf("cacheKey(%s) != cacheKey(%s)", a, b)
						}
						opA, opB := lookup(a), lookup(b)
						if opA != opB {
							t.Errorf("%s %v: lookup(%s) = %+v but lookup(%s) = %+v; they share a cache entry", region, typ, a, opA, b, opB)
						}
						checked++
						if strings.Contains(opA.Key, ":") {
							mobile++
						}
					}
				}
			}
		}
	}
	t.Logf("%d number pairs agree (%d with a carrier name)", checked, mobile)
	if checked == 0 || mobile == 0 {
		t.Fatal("nothing checked")
	}
}

func TestCacheKey(t *testing.T) {
	keys := map[uint64]string{}
	for _, s := range []string{"+1", "+12", "+123456789", "+1234567890", "+12345678901", "+0123456789", "+123456789012345", "+999999999999999"} {
		k := cacheKey(s)
		if prev, dup := keys[k]; dup {
			t.Errorf("cacheKey(%s) == cacheKey(%s)", s, prev)
		}
		keys[k] = s
	}
	if cacheKey("+4915112345678") != cacheKey("+4915112349999") {
		t.Error("numbers sharing 9 digits and length have different keys")
	}
	if cacheKey("+4915112345678") == cacheKey("+491511234567") {
		t.Error("numbers of different lengths share a key")
	}
}

// TestOperatorOfConcurrent calls Of from 16 goroutines on a small cache, so
// lookups, hits, insertions and evictions race; run it with -race.
func TestOperatorOfConcurrent(t *testing.T) {
	ops, err := newOperators(map[string]string{"+4917612": "DE:Congstar"}, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Operator{}
	for _, tc := range operatorCases {
		want[tc.number] = tc.want
	}
	want["+4917612345678"] = Operator{"DE:Congstar", "DE"}
	want["+49 176 1234 5678"] = Operator{"DE:Congstar", "DE"}
	numbers := make([]string, 0, len(want))
	for n := range want {
		numbers = append(numbers, n)
	}
	slices.Sort(numbers)

	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				n := numbers[(g*7+i)%len(numbers)]
				if got := ops.Of(n); got != want[n] {
					t.Errorf("goroutine %d: Of(%q) = %+v, want %+v", g, n, got, want[n])
					return
				}
			}
		}()
	}
	wg.Wait()
}

// benchNumbers are distinct numbers from a few busy ranges, as real traffic
// looks: every SMS goes to another number, but numbers share prefixes.
func benchNumbers(n int) []string {
	rng := rand.New(rand.NewPCG(3, 4))
	stems := []struct {
		prefix string
		length int // in bytes, "+" included
	}{
		{"+49151", 14}, {"+49176", 14}, {"+49172", 14}, {"+447787", 13}, {"+447400", 13},
		{"+336", 12}, {"+234803", 14}, {"+1415", 12}, {"+1212", 12}, {"+8613", 14},
	}
	out := make([]string, n)
	for i := range out {
		stem := stems[rng.IntN(len(stems))]
		prefix, length := stem.prefix, stem.length
		var b strings.Builder
		b.WriteString(prefix)
		for b.Len() < length {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		out[i] = b.String()
	}
	return out
}

func BenchmarkOperatorOf(b *testing.B) {
	ops, err := NewOperators(map[string]string{"+4915112": "DE:Congstar", "+234803": "NG:MTN"})
	if err != nil {
		b.Fatal(err)
	}
	numbers := benchNumbers(4096)
	for _, n := range numbers { // warm the cache: steady state
		ops.Of(n)
	}
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			ops.Of(numbers[i%len(numbers)])
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				ops.Of(numbers[i%len(numbers)])
				i++
			}
		})
	})
	b.Run("uncached", func(b *testing.B) {
		i := 0
		for b.Loop() {
			lookup(numbers[i%len(numbers)])
			i++
		}
	})
}

func ExampleOperators_Of() {
	ops, err := NewOperators(map[string]string{"+4915112": "DE:Congstar"})
	if err != nil {
		panic(err)
	}
	for _, n := range []string{"+4915112345678", "+4915198765432", "+447787123456", "+14155550123", "+999123456"} {
		fmt.Printf("%s %+v\n", n, ops.Of(n))
	}
	// Output:
	// +4915112345678 {Key:DE:Congstar Country:DE}
	// +4915198765432 {Key:DE:T-Mobile Country:DE}
	// +447787123456 {Key:GB:Vodafone Country:GB}
	// +14155550123 {Key:US Country:US}
	// +999123456 {Key:default Country:}
}
