package config

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers/v2"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// Guards are an application's spend and fraud guards (issue 18): where it
// may send, from which senders, how fast its intake may be called, and how
// many OTP a phone or a number prefix may get. The file's top-level
// `guards:` is the fleet-wide default; an application's `guards:` replaces
// each field it sets, except denied_ranges, which adds to the fleet's (a
// deny list is never lifted by one application). The operator API
// (internal/admin/guards.go) overrides fields the same way at run time.
//
// A zero field inherits: nil lists, "" strings, 0 numbers. Hence a fleet
// limit cannot be switched off for one application, only raised.
type Guards struct {
	// Countries are the ISO 3166 codes of the countries the application may
	// send to (libphonenumber's region of the number); empty: any.
	Countries []string `yaml:"countries" json:"countries"`
	// DeniedRanges are E.164 prefixes no SMS may go to ("+449": UK
	// premium rate). The fleet's default, when the file sets none, is
	// DefaultDeniedRanges; an explicit empty list removes it.
	DeniedRanges []string `yaml:"denied_ranges" json:"denied_ranges"`
	// Senders are the sender ids (alphanumeric) and numbers the
	// application may send from; empty: any valid sender.
	Senders []string `yaml:"senders" json:"senders"`
	// DefaultSender is the sender of a request that names none (else the
	// policy's `sender`); with Senders set it must be one of them.
	DefaultSender string `yaml:"default_sender" json:"default_sender,omitempty"`
	// Rate and Burst are the intake token bucket: createMessage requests
	// per second, shared by every intake pod; 0: no limit. Burst 0 takes
	// max(1, ceil(Rate)).
	Rate  float64 `yaml:"rate" json:"rate,omitempty"`
	Burst int     `yaml:"burst" json:"burst,omitempty"`
	// OTPPerPhoneHour caps the OTP one phone gets in any sliding hour;
	// OTPPerPrefixMinute the OTP to one number prefix (the first
	// PrefixDigits digits of the E.164 number) in any sliding minute. 0:
	// no cap.
	OTPPerPhoneHour    int `yaml:"otp_per_phone_hour" json:"otp_per_phone_hour,omitempty"`
	OTPPerPrefixMinute int `yaml:"otp_per_prefix_minute" json:"otp_per_prefix_minute,omitempty"`
	// PrefixDigits is how many digits of the E.164 number make a prefix
	// (country code included); default DefaultPrefixDigits.
	PrefixDigits int `yaml:"prefix_digits" json:"prefix_digits,omitempty"`
	// AnomalyFactor and AnomalyFloor say when a prefix is suddenly hot:
	// its OTP this minute above AnomalyFactor × its average of the
	// previous AnomalyMinutes minutes and above AnomalyFloor.
	AnomalyFactor float64 `yaml:"anomaly_factor" json:"anomaly_factor,omitempty"`
	AnomalyFloor  int     `yaml:"anomaly_floor" json:"anomaly_floor,omitempty"`
}

// Guard defaults.
const (
	DefaultPrefixDigits  = 7
	DefaultAnomalyFactor = 5
	DefaultAnomalyFloor  = 20
	// AnomalyMinutes is how many previous minutes a prefix's average is
	// taken over.
	AnomalyMinutes = 10
	// maxGuardRate bounds rate: above it a limit means nothing.
	maxGuardRate = 1e6
)

// DefaultDeniedRanges are premium-rate ranges no fleet should text unless
// it says so: UK 09 (+449), France 089 (+3389), Germany 0900 (+49900)
// and North America's 900 area code (+1900).
var DefaultDeniedRanges = []string{"+449", "+3389", "+49900", "+1900"}

var (
	guardCountry = regexp.MustCompile(`^[A-Z]{2}$`)
	e164Prefix   = regexp.MustCompile(`^\+[1-9][0-9]{0,14}$`)
)

// Merge returns g with every field over sets replaced (denied_ranges
// added).
func (g Guards) Merge(over Guards) Guards {
	if over.Countries != nil {
		g.Countries = over.Countries
	}
	if over.DeniedRanges != nil {
		g.DeniedRanges = union(g.DeniedRanges, over.DeniedRanges)
	}
	if over.Senders != nil {
		g.Senders = over.Senders
	}
	if over.DefaultSender != "" {
		g.DefaultSender = over.DefaultSender
	}
	g.Rate = pick(g.Rate, over.Rate)
	g.Burst = pick(g.Burst, over.Burst)
	g.OTPPerPhoneHour = pick(g.OTPPerPhoneHour, over.OTPPerPhoneHour)
	g.OTPPerPrefixMinute = pick(g.OTPPerPrefixMinute, over.OTPPerPrefixMinute)
	g.PrefixDigits = pick(g.PrefixDigits, over.PrefixDigits)
	g.AnomalyFactor = pick(g.AnomalyFactor, over.AnomalyFactor)
	g.AnomalyFloor = pick(g.AnomalyFloor, over.AnomalyFloor)
	return g
}

func pick[T int | float64](base, over T) T {
	if over != 0 {
		return over
	}
	return base
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// WithDefaults fills the defaults of the anomaly and prefix settings.
func (g Guards) WithDefaults() Guards {
	g.PrefixDigits = pick(DefaultPrefixDigits, g.PrefixDigits)
	g.AnomalyFactor = pick(DefaultAnomalyFactor, g.AnomalyFactor)
	g.AnomalyFloor = pick(DefaultAnomalyFloor, g.AnomalyFloor)
	return g
}

// Normalize canonicalizes the lists (upper-case countries, normalized
// senders) so every later comparison is exact.
func (g Guards) Normalize() Guards {
	if g.Countries != nil {
		cs := make([]string, len(g.Countries))
		for i, c := range g.Countries {
			cs[i] = strings.ToUpper(strings.TrimSpace(c))
		}
		g.Countries = cs
	}
	if g.Senders != nil {
		ss := make([]string, len(g.Senders))
		for i, s := range g.Senders {
			if n, err := sms.NormalizeSender(s); err == nil {
				s = n
			}
			ss[i] = s
		}
		g.Senders = ss
	}
	if n, err := sms.NormalizeSender(g.DefaultSender); err == nil && g.DefaultSender != "" {
		g.DefaultSender = n
	}
	return g
}

// Validate checks every field; where names where the guards come from
// ("guards", "applications[2].guards") for the error.
func (g Guards) Validate(where string) error {
	for _, check := range []func(string) error{g.validateLists, g.validateSenders, g.validateNumbers} {
		if err := check(where); err != nil {
			return err
		}
	}
	return nil
}

func (g Guards) validateLists(where string) error {
	supported := phonenumbers.GetSupportedRegions()
	for i, c := range g.Countries {
		if !guardCountry.MatchString(strings.ToUpper(c)) || !supported[strings.ToUpper(c)] {
			return fmt.Errorf("%s.countries[%d]: %q is not an ISO 3166 country code libphonenumber knows (e.g. \"GB\")", where, i, c)
		}
	}
	for i, r := range g.DeniedRanges {
		if !e164Prefix.MatchString(r) {
			return fmt.Errorf("%s.denied_ranges[%d]: %q is not an E.164 prefix (\"+\" and 1 to 15 digits, e.g. \"+449\")", where, i, r)
		}
	}
	return nil
}

func (g Guards) validateSenders(where string) error {
	for i, s := range g.Senders {
		if _, err := sms.NormalizeSender(s); err != nil || s == "" {
			return fmt.Errorf("%s.senders[%d]: %q is not a valid sender: %v", where, i, s, err)
		}
	}
	if g.DefaultSender == "" {
		return nil
	}
	def, err := sms.NormalizeSender(g.DefaultSender)
	if err != nil {
		return fmt.Errorf("%s.default_sender: %w", where, err)
	}
	if len(g.Senders) > 0 && !slices.Contains(g.Normalize().Senders, def) {
		return fmt.Errorf("%s.default_sender: %q is not one of senders %v", where, g.DefaultSender, g.Senders)
	}
	return nil
}

func (g Guards) validateNumbers(where string) error {
	switch {
	case g.Rate < 0 || g.Rate > maxGuardRate || math.IsNaN(g.Rate):
		return fmt.Errorf("%s.rate: must be from 0 (no limit) to %g requests per second, got %v", where, float64(maxGuardRate), g.Rate)
	case g.Burst < 0 || g.Burst > maxGuardRate:
		return fmt.Errorf("%s.burst: must be from 0 to %d, got %d", where, int(maxGuardRate), g.Burst)
	case g.Burst > 0 && g.Rate == 0:
		return fmt.Errorf("%s.burst: set without rate", where)
	case g.OTPPerPhoneHour < 0:
		return fmt.Errorf("%s.otp_per_phone_hour: must be 0 (no cap) or more, got %d", where, g.OTPPerPhoneHour)
	case g.OTPPerPrefixMinute < 0:
		return fmt.Errorf("%s.otp_per_prefix_minute: must be 0 (no cap) or more, got %d", where, g.OTPPerPrefixMinute)
	case g.PrefixDigits < 0 || g.PrefixDigits > 15:
		return fmt.Errorf("%s.prefix_digits: must be from 1 to 15 (0: %d), got %d", where, DefaultPrefixDigits, g.PrefixDigits)
	case g.AnomalyFactor < 0 || math.IsNaN(g.AnomalyFactor) || math.IsInf(g.AnomalyFactor, 0):
		return fmt.Errorf("%s.anomaly_factor: must be a positive number (0: %d), got %v", where, DefaultAnomalyFactor, g.AnomalyFactor)
	case g.AnomalyFloor < 0:
		return fmt.Errorf("%s.anomaly_floor: must be 0 or more, got %d", where, g.AnomalyFloor)
	}
	return nil
}

// fleetGuards is the fleet-wide default: the file's, with the default
// denied ranges when it names none.
func (c Config) fleetGuards() Guards {
	g := c.Guards
	if g.DeniedRanges == nil {
		g.DeniedRanges = slices.Clone(DefaultDeniedRanges)
	}
	return g
}

// GuardsOf returns an application's configured guards: the fleet's,
// with the application's fields over them, normalized and defaults
// filled. The operator's overrides are applied on top of this at run
// time (internal/guard).
func (c Config) GuardsOf(app string) Guards {
	g := c.fleetGuards()
	for _, a := range c.Applications {
		if a.Code == app && a.Guards != nil {
			g = g.Merge(*a.Guards)
		}
	}
	return g.Normalize().WithDefaults()
}

// validateGuards checks the fleet's guards and every application's, and
// the application's result as a whole (a default sender inherited from
// the fleet must be one of the application's own senders).
func (c Config) validateGuards() error {
	if err := c.Guards.Validate("config: SMSFLEET_CONFIG guards"); err != nil {
		return err
	}
	for _, a := range c.Applications {
		if a.Guards == nil {
			continue
		}
		where := "config: SMSFLEET_CONFIG application " + a.Code + " guards"
		if err := a.Guards.Validate(where); err != nil {
			return err
		}
		if err := c.fleetGuards().Merge(*a.Guards).Validate(where + " (with the fleet's guards)"); err != nil {
			return err
		}
	}
	return nil
}

// IsZero reports whether g sets nothing (an override that changes nothing).
func (g Guards) IsZero() bool {
	return g.Countries == nil && g.DeniedRanges == nil && g.Senders == nil && g.DefaultSender == "" && g.Rate == 0 && g.Burst == 0 &&
		g.OTPPerPhoneHour == 0 && g.OTPPerPrefixMinute == 0 && g.PrefixDigits == 0 && g.AnomalyFactor == 0 && g.AnomalyFloor == 0
}
