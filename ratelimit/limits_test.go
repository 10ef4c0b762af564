package ratelimit

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParseLimits(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Configured // sorted by key
	}{
		{"empty", "", nil},
		{"spaces only", "  \t ", nil},
		{"brief example", "DE:T-Mobile=50,FR:SFR=20/40,US=100,default=500,sim-a/DE:T-Mobile=30", []Configured{
			{"country:US", Limit{100, 100}},
			{"default", Limit{500, 500}},
			{"op:DE:T-Mobile", Limit{50, 50}},
			{"op:FR:SFR", Limit{20, 40}},
			{"pair:sim-a/DE:T-Mobile", Limit{30, 30}},
		}},
		{"whitespace around entries, keys and values", " DE:T-Mobile = 50 ,\tFR:SFR=20 / 40 \n", []Configured{
			{"op:DE:T-Mobile", Limit{50, 50}},
			{"op:FR:SFR", Limit{20, 40}},
		}},
		{"fractional rate rounds the default burst up", "DE=0.5,FR=1.5,GB=1,NG=.25,US=7.", []Configured{
			{"country:DE", Limit{0.5, 1}},
			{"country:FR", Limit{1.5, 2}},
			{"country:GB", Limit{1, 1}},
			{"country:NG", Limit{0.25, 1}},
			{"country:US", Limit{7, 7}},
		}},
		{"explicit burst below and above rate", "DE=100/10,FR=1/50", []Configured{
			{"country:DE", Limit{100, 10}},
			{"country:FR", Limit{1, 50}},
		}},
		{"operator names with spaces and slashes", "IM:Manx Telecom=5,KZ:Kcell/Activ=6,sim-a/KZ:Kcell/Activ=7,DE:Vodafone/Lycamobile=8/9", []Configured{
			{"op:DE:Vodafone/Lycamobile", Limit{8, 9}},
			{"op:IM:Manx Telecom", Limit{5, 5}},
			{"op:KZ:Kcell/Activ", Limit{6, 6}},
			{"pair:sim-a/KZ:Kcell/Activ", Limit{7, 7}},
		}},
		{"provider country pair and long provider name", "sim-a/DE=1,0123456789-abcdefghijklmnopqrstu/US=2", []Configured{
			{"pair:0123456789-abcdefghijklmnopqrstu/US", Limit{2, 2}},
			{"pair:sim-a/DE", Limit{1, 1}},
		}},
		{"same operator for several providers", "a/DE:O2=1,b/DE:O2=2,DE:O2=3", []Configured{
			{"op:DE:O2", Limit{3, 3}},
			{"pair:a/DE:O2", Limit{1, 1}},
			{"pair:b/DE:O2", Limit{2, 2}},
		}},
		{"largest values", "default=1000000/2147483647", []Configured{
			{"default", Limit{1e6, 2147483647}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseLimits(tc.in)
			if err != nil {
				t.Fatalf("ParseLimits(%q): %v", tc.in, err)
			}
			got := l.Configured()
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseLimits(%q).Configured() =\n%+v\nwant\n%+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseLimitsErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string // the whole error message
	}{
		// The brief's example.
		{"DE:T-Mobile=50,FR:SFR=20/40,US=0", `SMSFLEET_RATE_LIMITS entry 3 "US=0": rate must be positive`},
		// Entries.
		{"DE=1,,FR=2", `SMSFLEET_RATE_LIMITS entry 2 "": empty entry (stray comma?)`},
		{"DE=1,", `SMSFLEET_RATE_LIMITS entry 2 "": empty entry (stray comma?)`},
		{",DE=1", `SMSFLEET_RATE_LIMITS entry 1 "": empty entry (stray comma?)`},
		{"DE", `SMSFLEET_RATE_LIMITS entry 1 "DE": want key=rate or key=rate/burst`},
		{"DE:50", `SMSFLEET_RATE_LIMITS entry 1 "DE:50": want key=rate or key=rate/burst`},
		// Keys.
		{"=5", `SMSFLEET_RATE_LIMITS entry 1 "=5": key is empty`},
		{"de=5", `SMSFLEET_RATE_LIMITS entry 1 "de=5": key "de" must be "default", CC, CC:Name, provider/CC or provider/CC:Name`},
		{"Default=5", `SMSFLEET_RATE_LIMITS entry 1 "Default=5": operator key must start with an upper-case ISO 3166 alpha-2 country code (CC or CC:Name)`},
		{"D=5", `SMSFLEET_RATE_LIMITS entry 1 "D=5": operator key must start with an upper-case ISO 3166 alpha-2 country code (CC or CC:Name)`},
		{"XX=5", `SMSFLEET_RATE_LIMITS entry 1 "XX=5": unknown country code "XX"`},
		{"UK:Vodafone=5", `SMSFLEET_RATE_LIMITS entry 1 "UK:Vodafone=5": unknown country code "UK" (the ISO 3166 code of the United Kingdom is GB)`},
		{"DEU=5", `SMSFLEET_RATE_LIMITS entry 1 "DEU=5": operator key must be CC or CC:Name (CC an upper-case ISO 3166 alpha-2 code)`},
		{"DE:=5", `SMSFLEET_RATE_LIMITS entry 1 "DE:=5": operator name after "DE:" is empty`},
		{"DE: O2=5", `SMSFLEET_RATE_LIMITS entry 1 "DE: O2=5": operator name " O2" has leading or trailing spaces`},
		{"Sim-A/DE=5", `SMSFLEET_RATE_LIMITS entry 1 "Sim-A/DE=5": provider name "Sim-A" must match [a-z0-9-]{1,32}`},
		{"sim_a/DE=5", `SMSFLEET_RATE_LIMITS entry 1 "sim_a/DE=5": provider name "sim_a" must match [a-z0-9-]{1,32}`},
		{"sim-a /DE=5", `SMSFLEET_RATE_LIMITS entry 1 "sim-a /DE=5": provider name "sim-a " must match [a-z0-9-]{1,32}`},
		{"/DE=5", `SMSFLEET_RATE_LIMITS entry 1 "/DE=5": provider name "" must match [a-z0-9-]{1,32}`},
		{"0123456789-abcdefghijklmnopqrstuv/DE=5", `SMSFLEET_RATE_LIMITS entry 1 "0123456789-abcdefghijklmnopqrstuv/DE=5": provider name "0123456789-abcdefghijklmnopqrstuv" must match [a-z0-9-]{1,32}`},
		{"sim-a/=5", `SMSFLEET_RATE_LIMITS entry 1 "sim-a/=5": country or operator after "sim-a/" is empty`},
		{"sim-a/default=5", `SMSFLEET_RATE_LIMITS entry 1 "sim-a/default=5": a provider pair needs a country or operator, not "default"`},
		{"sim-a/de=5", `SMSFLEET_RATE_LIMITS entry 1 "sim-a/de=5": operator key must start with an upper-case ISO 3166 alpha-2 country code (CC or CC:Name)`},
		{"sim-a/UK=5", `SMSFLEET_RATE_LIMITS entry 1 "sim-a/UK=5": unknown country code "UK" (the ISO 3166 code of the United Kingdom is GB)`},
		{"a/b/DE=5", `SMSFLEET_RATE_LIMITS entry 1 "a/b/DE=5": operator key must start with an upper-case ISO 3166 alpha-2 country code (CC or CC:Name)`},
		// Rates.
		{"US=0", `SMSFLEET_RATE_LIMITS entry 1 "US=0": rate must be positive`},
		{"US=0.000", `SMSFLEET_RATE_LIMITS entry 1 "US=0.000": rate must be positive`},
		{"US=-5", `SMSFLEET_RATE_LIMITS entry 1 "US=-5": rate must be positive`},
		{"US=", `SMSFLEET_RATE_LIMITS entry 1 "US=": rate is missing`},
		{"US=/5", `SMSFLEET_RATE_LIMITS entry 1 "US=/5": rate is missing`},
		{"US=fast", `SMSFLEET_RATE_LIMITS entry 1 "US=fast": rate "fast" is not a decimal number of segments per second`},
		{"US=1e3", `SMSFLEET_RATE_LIMITS entry 1 "US=1e3": rate "1e3" is not a decimal number of segments per second`},
		{"US=+5", `SMSFLEET_RATE_LIMITS entry 1 "US=+5": rate "+5" is not a decimal number of segments per second`},
		{"US=NaN", `SMSFLEET_RATE_LIMITS entry 1 "US=NaN": rate "NaN" is not a decimal number of segments per second`},
		{"US=Inf", `SMSFLEET_RATE_LIMITS entry 1 "US=Inf": rate "Inf" is not a decimal number of segments per second`},
		{"US=1.2.3", `SMSFLEET_RATE_LIMITS entry 1 "US=1.2.3": rate "1.2.3" is not a decimal number of segments per second`},
		{"US=.", `SMSFLEET_RATE_LIMITS entry 1 "US=.": rate "." is not a decimal number of segments per second`},
		{"US=1 000", `SMSFLEET_RATE_LIMITS entry 1 "US=1 000": rate "1 000" is not a decimal number of segments per second`},
		{"US=50=60", `SMSFLEET_RATE_LIMITS entry 1 "US=50=60": rate "50=60" is not a decimal number of segments per second`},
		{"US=1000000.5", `SMSFLEET_RATE_LIMITS entry 1 "US=1000000.5": rate 1000000.5 is too large (at most 1000000)`},
		// Bursts.
		{"US=5/", `SMSFLEET_RATE_LIMITS entry 1 "US=5/": burst after '/' is missing`},
		{"US=5/0", `SMSFLEET_RATE_LIMITS entry 1 "US=5/0": burst must be positive`},
		{"US=5/-1", `SMSFLEET_RATE_LIMITS entry 1 "US=5/-1": burst "-1" must be a positive integer`},
		{"US=5/1.5", `SMSFLEET_RATE_LIMITS entry 1 "US=5/1.5": burst "1.5" must be a positive integer`},
		{"US=5/x", `SMSFLEET_RATE_LIMITS entry 1 "US=5/x": burst "x" must be a positive integer`},
		{"US=5/1/2", `SMSFLEET_RATE_LIMITS entry 1 "US=5/1/2": burst "1/2" must be a positive integer`},
		{"US=5/2147483648", `SMSFLEET_RATE_LIMITS entry 1 "US=5/2147483648": burst 2147483648 is too large (at most 2147483647)`},
		{"US=5/99999999999999999999", `SMSFLEET_RATE_LIMITS entry 1 "US=5/99999999999999999999": burst 99999999999999999999 is too large (at most 2147483647)`},
		// Duplicates, including ones written differently.
		{"US=1,DE=2,US=3", `SMSFLEET_RATE_LIMITS entry 3 "US=3": duplicate key "US" (already set by entry 1)`},
		{"default=1,default=1", `SMSFLEET_RATE_LIMITS entry 2 "default=1": duplicate key "default" (already set by entry 1)`},
		{"DE:O2=1, DE:O2 =2/4", `SMSFLEET_RATE_LIMITS entry 2 "DE:O2 =2/4": duplicate key "DE:O2" (already set by entry 1)`},
		{"sim-a/DE:O2=1,sim-b/DE:O2=1,sim-a/DE:O2=1", `SMSFLEET_RATE_LIMITS entry 3 "sim-a/DE:O2=1": duplicate key "sim-a/DE:O2" (already set by entry 1)`},
		// The first bad entry is reported.
		{"US=0,DE=0", `SMSFLEET_RATE_LIMITS entry 1 "US=0": rate must be positive`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			l, err := ParseLimits(tc.in)
			if err == nil {
				t.Fatalf("ParseLimits(%q) = %v, want error %q", tc.in, l, tc.want)
			}
			if err.Error() != tc.want {
				t.Fatalf("ParseLimits(%q) error\n%s\nwant\n%s", tc.in, err, tc.want)
			}
			if !reflect.DeepEqual(l, Limits{}) {
				t.Fatalf("ParseLimits(%q) returned non-zero Limits with an error", tc.in)
			}
		})
	}
}

func TestLimitsFor(t *testing.T) {
	all, err := ParseLimits("sim-a/DE:T-Mobile=1,sim-a/DE=2,DE:T-Mobile=3,DE=4,default=5")
	if err != nil {
		t.Fatal(err)
	}
	noDefault, err := ParseLimits("sim-a/DE:T-Mobile=1,sim-a/DE=2,DE:T-Mobile=3,DE=4")
	if err != nil {
		t.Fatal(err)
	}
	pairsOnly, err := ParseLimits("sim-a/DE:T-Mobile=1/7,sim-a/US=2")
	if err != nil {
		t.Fatal(err)
	}
	tmobile := Operator{"DE:T-Mobile", "DE"}
	o2 := Operator{"DE:O2", "DE"}
	tests := []struct {
		name     string
		limits   Limits
		provider string
		op       Operator
		wantKey  string
		wantLim  Limit
		wantOK   bool
	}{
		{"provider/operator first", all, "sim-a", tmobile, "pair:sim-a/DE:T-Mobile", Limit{1, 1}, true},
		{"then provider/country", all, "sim-a", o2, "pair:sim-a/DE", Limit{2, 2}, true},
		{"then operator", all, "sim-b", tmobile, "op:DE:T-Mobile", Limit{3, 3}, true},
		{"operator without provider", all, "", tmobile, "op:DE:T-Mobile", Limit{3, 3}, true},
		{"then country", all, "sim-b", o2, "country:DE", Limit{4, 4}, true},
		{"country-only operator", all, "", Operator{"DE", "DE"}, "country:DE", Limit{4, 4}, true},
		{"country-only operator via provider", all, "sim-a", Operator{"DE", "DE"}, "pair:sim-a/DE", Limit{2, 2}, true},
		{"then default", all, "sim-a", Operator{"FR:SFR", "FR"}, "default", Limit{5, 5}, true},
		{"unknown country gets default", all, "sim-a", Operator{"default", ""}, "default", Limit{5, 5}, true},
		{"zero operator gets default", all, "sim-a", Operator{}, "default", Limit{5, 5}, true},
		{"no default: unlimited", noDefault, "sim-a", Operator{"FR:SFR", "FR"}, "", Limit{}, false},
		{"no default: unknown country unlimited", noDefault, "", Operator{"default", ""}, "", Limit{}, false},
		{"no limits at all", Limits{}, "sim-a", tmobile, "", Limit{}, false},
		{"pairs only: other provider unlimited", pairsOnly, "sim-b", tmobile, "", Limit{}, false},
		{"pairs only: matching pair", pairsOnly, "sim-a", tmobile, "pair:sim-a/DE:T-Mobile", Limit{1, 7}, true},
		{"pairs only: US country pair", pairsOnly, "sim-a", Operator{"US", "US"}, "pair:sim-a/US", Limit{2, 2}, true},
		{"operator without Country falls back on its key's country", all, "sim-b", Operator{Key: "DE:O2"}, "country:DE", Limit{4, 4}, true},
		{"country-only operator without Country", all, "sim-a", Operator{Key: "DE"}, "pair:sim-a/DE", Limit{2, 2}, true},
		{"Operators.Of result", all, "sim-a", mustOf(t, "+4915112345678"), "pair:sim-a/DE:T-Mobile", Limit{1, 1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, lim, ok := tc.limits.For(tc.provider, tc.op)
			if key != tc.wantKey || lim != tc.wantLim || ok != tc.wantOK {
				t.Fatalf("For(%q, %+v) = %q, %+v, %v; want %q, %+v, %v", tc.provider, tc.op, key, lim, ok, tc.wantKey, tc.wantLim, tc.wantOK)
			}
		})
	}
}

func mustOf(t *testing.T, number string) Operator {
	t.Helper()
	ops, err := NewOperators(nil)
	if err != nil {
		t.Fatal(err)
	}
	return ops.Of(number)
}

func TestLimitsStringRoundTrip(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"DE:T-Mobile=50,FR:SFR=20/40,US=100,default=500,sim-a/DE:T-Mobile=30",
			"DE:T-Mobile=50,FR:SFR=20/40,US=100,default=500,sim-a/DE:T-Mobile=30"},
		{" US = 100 / 100 , DE=0.5/1,GB=0.5/3, NG=.25, FR=7.",
			"DE=0.5,FR=7,GB=0.5/3,NG=0.25,US=100"},
		{"IM:Manx Telecom=5,KZ:Kcell/Activ=6,sim-a/KZ:Kcell/Activ=7/1,b/US=1000000/2147483647,default=0.0000001",
			"IM:Manx Telecom=5,KZ:Kcell/Activ=6,b/US=1000000/2147483647,default=0.0000001,sim-a/KZ:Kcell/Activ=7/1"},
		{"DE=123.456789012345/9", "DE=123.456789012345/9"},
	}
	for _, tc := range tests {
		l, err := ParseLimits(tc.in)
		if err != nil {
			t.Fatalf("ParseLimits(%q): %v", tc.in, err)
		}
		s := l.String()
		if s != tc.want {
			t.Errorf("ParseLimits(%q).String() = %q, want %q", tc.in, s, tc.want)
		}
		l2, err := ParseLimits(s)
		if err != nil {
			t.Fatalf("ParseLimits(String() = %q): %v", s, err)
		}
		if !reflect.DeepEqual(l, l2) {
			t.Errorf("round trip of %q through %q: got %+v, want %+v", tc.in, s, l2.Configured(), l.Configured())
		}
		if s2 := l2.String(); s2 != s {
			t.Errorf("String not stable: %q then %q", s, s2)
		}
	}
}

func TestLimitsConfigured(t *testing.T) {
	var zero Limits
	if got := zero.Configured(); len(got) != 0 {
		t.Errorf("zero Limits Configured() = %v", got)
	}
	if s := zero.String(); s != "" {
		t.Errorf("zero Limits String() = %q", s)
	}
	l, err := ParseLimits("b/DE=1,a/DE=2,US=3,default=4,DE:O2=5")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range l.Configured() {
		keys = append(keys, c.Key)
	}
	want := "country:US default op:DE:O2 pair:a/DE pair:b/DE"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("Configured keys = %q, want %q", got, want)
	}
	// Every configured key is what For returns for a matching SMS.
	for _, c := range l.Configured() {
		found := false
		for _, q := range []struct {
			provider string
			op       Operator
		}{{"b", Operator{"DE:X", "DE"}}, {"a", Operator{"DE:X", "DE"}}, {"", Operator{"US", "US"}}, {"", Operator{"default", ""}}, {"", Operator{"DE:O2", "DE"}}} {
			if key, lim, ok := l.For(q.provider, q.op); ok && key == c.Key && lim == c.Limit {
				found = true
			}
		}
		if !found {
			t.Errorf("configured %+v never returned by For", c)
		}
	}
}

func ExampleParseLimits() {
	limits, err := ParseLimits("DE:T-Mobile=50,FR:SFR=20/40,US=100,default=500,sim-a/DE:T-Mobile=30")
	if err != nil {
		panic(err)
	}
	for _, q := range []struct {
		provider string
		op       Operator
	}{
		{"sim-a", Operator{"DE:T-Mobile", "DE"}},
		{"sim-b", Operator{"DE:T-Mobile", "DE"}},
		{"sim-b", Operator{"FR:SFR", "FR"}},
		{"sim-b", Operator{"US", "US"}},
		{"sim-b", Operator{"NG:MTN", "NG"}},
	} {
		key, lim, ok := limits.For(q.provider, q.op)
		fmt.Println(q.provider, q.op.Key, "->", key, lim.Rate, lim.Burst, ok)
	}
	_, err = ParseLimits("DE:T-Mobile=50,FR:SFR=20/40,US=0")
	fmt.Println(err)
	// Output:
	// sim-a DE:T-Mobile -> pair:sim-a/DE:T-Mobile 30 30 true
	// sim-b DE:T-Mobile -> op:DE:T-Mobile 50 50 true
	// sim-b FR:SFR -> op:FR:SFR 20 40 true
	// sim-b US -> country:US 100 100 true
	// sim-b NG:MTN -> default 500 500 true
	// SMSFLEET_RATE_LIMITS entry 3 "US=0": rate must be positive
}
