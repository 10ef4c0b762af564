package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Policy is what an application decides about its SMS content and who may
// get it. Zero values mean "the fleet-wide default" (the SMSFLEET_* variable
// of the same name); Config.PolicyOf resolves them.
type Policy struct {
	// Sender is the default From of the application's SMS.
	Sender string `yaml:"sender"`
	// SmartEncoding replaces typographic quotes, dashes and the like with
	// GSM characters so one curly quote does not triple the price.
	SmartEncoding *bool `yaml:"smart_encoding"`
	// MaxSegments caps the parts one SMS may take.
	MaxSegments int `yaml:"max_segments"`
	// ConsentTag names the device tag that must be true for marketing.
	ConsentTag string `yaml:"consent_tag"`
	// OTPIgnoresOptOut lets security codes reach opted-out phones (a user
	// who replied STOP to offers still needs to log in).
	OTPIgnoresOptOut *bool `yaml:"otp_ignores_optout"`
	// QuietHours is a local-time window ("21:00-09:00") in which marketing
	// SMS are held until the window ends; "off" disables the default.
	QuietHours string `yaml:"quiet_hours"`
}

// Resolved is a Policy with every default filled in.
type Resolved struct {
	Sender           string
	SmartEncoding    bool
	MaxSegments      int
	ConsentTag       string
	OTPIgnoresOptOut bool
	Quiet            QuietHours
	Validity         Validity
}

// Defaults are the fleet-wide content and policy defaults.
type Defaults struct {
	Sender           string `env:"SENDER"`
	SmartEncoding    bool   `env:"SMART_ENCODING" envDefault:"true"`
	MaxSegments      int    `env:"MAX_SEGMENTS" envDefault:"10"`
	ConsentTag       string `env:"CONSENT_TAG" envDefault:"SMSMarketingConsent"`
	OTPIgnoresOptOut bool   `env:"OTP_IGNORES_OPTOUT" envDefault:"true"`
	QuietHours       string `env:"QUIET_HOURS"`
	Validity         Validity
}

// Validity is how long an SMS may wait for a provider, by message type,
// unless a notification sets `validity`.
type Validity struct {
	OTP           time.Duration `env:"VALIDITY_OTP" envDefault:"300s"`
	Transactional time.Duration `env:"VALIDITY_TRANSACTIONAL" envDefault:"24h"`
	Marketing     time.Duration `env:"VALIDITY_MARKETING" envDefault:"72h"`
}

// Validity bounds, for defaults and for `validity` in a request.
const (
	MinValidity = time.Second
	MaxValidity = 7 * 24 * time.Hour
)

// QuietHours is a daily local-time window [Start, End) in minutes after
// midnight; End < Start wraps past midnight. The zero value is no window.
type QuietHours struct {
	Start, End int
	Set        bool
}

// ParseQuietHours reads "HH:MM-HH:MM"; "" and "off" mean none.
func ParseQuietHours(s string) (QuietHours, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "off" {
		return QuietHours{}, nil
	}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return QuietHours{}, fmt.Errorf("quiet hours %q: want HH:MM-HH:MM", s)
	}
	start, err1 := parseClock(from)
	end, err2 := parseClock(to)
	if err1 != nil || err2 != nil {
		return QuietHours{}, fmt.Errorf("quiet hours %q: want HH:MM-HH:MM with 00:00 to 23:59", s)
	}
	if start == end {
		return QuietHours{}, fmt.Errorf("quiet hours %q: an empty window; use \"off\"", s)
	}
	return QuietHours{Start: start, End: end, Set: true}, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("bad clock %q", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("bad clock %q", s)
	}
	return hh*60 + mm, nil
}

// Holds reports whether local time t is inside the window, and if so when
// (in t's location) the window ends.
func (q QuietHours) Holds(t time.Time) (bool, time.Time) {
	if !q.Set {
		return false, time.Time{}
	}
	minute := t.Hour()*60 + t.Minute()
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	at := func(dayOffset, minutes int) time.Time {
		return midnight.AddDate(0, 0, dayOffset).Add(time.Duration(minutes) * time.Minute)
	}
	if q.Start < q.End { // same-day window, e.g. 12:00-14:00
		if minute >= q.Start && minute < q.End {
			return true, at(0, q.End)
		}
		return false, time.Time{}
	}
	switch { // wraps midnight, e.g. 21:00-09:00
	case minute >= q.Start:
		return true, at(1, q.End)
	case minute < q.End:
		return true, at(0, q.End)
	}
	return false, time.Time{}
}

// String renders the window as configured.
func (q QuietHours) String() string {
	if !q.Set {
		return "off"
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", q.Start/60, q.Start%60, q.End/60, q.End%60)
}

// For returns the validity of a message type ("otp", "transactional",
// "marketing").
func (v Validity) For(typ string) time.Duration {
	switch typ {
	case "otp":
		return v.OTP
	case "marketing":
		return v.Marketing
	}
	return v.Transactional
}

func (v Validity) validate() error {
	for name, d := range map[string]time.Duration{"OTP": v.OTP, "TRANSACTIONAL": v.Transactional, "MARKETING": v.Marketing} {
		if d < MinValidity || d > MaxValidity {
			return fmt.Errorf("config: SMSFLEET_VALIDITY_%s must be from 1s to 168h, got %s", name, d)
		}
	}
	return nil
}

// resolve fills p's zero values from d. It fails on values that cannot
// work, naming where they came from.
func (p Policy) resolve(d Defaults, where string) (Resolved, error) {
	r := Resolved{
		Sender: d.Sender, SmartEncoding: d.SmartEncoding, MaxSegments: d.MaxSegments,
		ConsentTag: d.ConsentTag, OTPIgnoresOptOut: d.OTPIgnoresOptOut, Validity: d.Validity,
	}
	if p.Sender != "" {
		r.Sender = p.Sender
	}
	if p.SmartEncoding != nil {
		r.SmartEncoding = *p.SmartEncoding
	}
	if p.MaxSegments != 0 {
		r.MaxSegments = p.MaxSegments
	}
	if p.ConsentTag != "" {
		r.ConsentTag = p.ConsentTag
	}
	if p.OTPIgnoresOptOut != nil {
		r.OTPIgnoresOptOut = *p.OTPIgnoresOptOut
	}
	quiet := d.QuietHours
	if p.QuietHours != "" {
		quiet = p.QuietHours
	}
	q, err := ParseQuietHours(quiet)
	if err != nil {
		return Resolved{}, fmt.Errorf("%s: %w", where, err)
	}
	r.Quiet = q
	if r.MaxSegments < 1 || r.MaxSegments > 255 {
		return Resolved{}, fmt.Errorf("%s: max segments must be from 1 to 255 (a concatenated SMS has at most 255 parts), got %d", where, r.MaxSegments)
	}
	if r.ConsentTag == "" {
		return Resolved{}, fmt.Errorf("%s: the consent tag name must not be empty", where)
	}
	return r, nil
}
