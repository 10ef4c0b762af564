package guard

import (
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/config"
)

func rulesOf(g config.Guards) Rules { return Rules{Guards: g.Normalize().WithDefaults()} }

func TestDestination(t *testing.T) {
	for _, tc := range []struct {
		name     string
		g        config.Guards
		phone    string
		rule     string
		contains string
	}{
		{"no guards", config.Guards{}, "+447911123456", "", ""},
		{"denied UK premium", config.Guards{DeniedRanges: []string{"+449"}}, "+449012345678", RuleRange, `+44 9xx is in a denied range (guards.denied_ranges "+449")`},
		{"range wins over country", config.Guards{Countries: []string{"GB"}, DeniedRanges: []string{"+449"}}, "+449012345678", RuleRange, "denied range"},
		{"allowed country", config.Guards{Countries: []string{"gb", "FR"}}, "+442071234567", "", ""},
		{"other country", config.Guards{Countries: []string{"FR"}}, "+4915112345678", RuleCountry, "is in DE, not an allowed country (guards.countries [FR])"},
		{"non-geographic", config.Guards{Countries: []string{"FR"}}, "+80012345678", RuleCountry, "no country"},
		{"North America premium", config.Guards{DeniedRanges: config.DefaultDeniedRanges}, "+19005551234", RuleRange, `+1 900xx`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := rulesOf(tc.g).Destination(tc.phone)
			switch {
			case tc.rule == "" && ref != nil:
				t.Fatalf("refused: %v", ref)
			case tc.rule != "" && ref == nil:
				t.Fatal("allowed, want refused")
			case tc.rule != "" && (ref.Rule != tc.rule || !contains(ref.Msg, tc.contains)):
				t.Fatalf("refusal %q %q, want %q containing %q", ref.Rule, ref.Msg, tc.rule, tc.contains)
			}
			if ref != nil && contains(ref.Msg, tc.phone) {
				t.Fatalf("message %q shows the whole number", ref.Msg)
			}
		})
	}
}

func TestSender(t *testing.T) {
	for _, tc := range []struct {
		name            string
		g               config.Guards
		given, fallback string
		want, refused   string
	}{
		{"any sender", config.Guards{}, "HSBC", "", "HSBC", ""},
		{"policy default", config.Guards{}, "", "ACME", "ACME", ""},
		{"guard default over policy", config.Guards{Senders: []string{"ACME", "+442071234567"}, DefaultSender: "+442071234567"}, "", "OTHER", "+442071234567", ""},
		{"allowed", config.Guards{Senders: []string{"ACME"}}, "ACME", "", "ACME", ""},
		{"not allowed", config.Guards{Senders: []string{"ACME"}}, "HSBC", "", "", `"HSBC" is not an allowed sender (guards.senders [ACME])`},
		{"policy default not allowed", config.Guards{Senders: []string{"ACME"}}, "", "OTHER", "", "not an allowed sender"},
		{"none and no default", config.Guards{Senders: []string{"ACME"}}, "", "", "", "has no default_sender"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ref := rulesOf(tc.g).Sender(tc.given, tc.fallback)
			if tc.refused == "" {
				if ref != nil || got != tc.want {
					t.Fatalf("got %q %v, want %q", got, ref, tc.want)
				}
				return
			}
			if ref == nil || ref.Rule != RuleSender || !contains(ref.Msg, tc.refused) {
				t.Fatalf("got %q %v, want a refusal containing %q", got, ref, tc.refused)
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	r := rulesOf(config.Guards{})
	if got := r.Prefix("+447911123456"); got != "+4479111" {
		t.Fatalf("prefix %q, want the first 7 digits", got)
	}
	r = rulesOf(config.Guards{PrefixDigits: 15})
	if got := r.Prefix("+447911123456"); got != "+447911123456" {
		t.Fatalf("prefix %q, want the whole short number", got)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
