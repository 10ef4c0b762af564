package config

import (
	"fmt"
	"regexp"
	"strings"
)

// Application is one tenant: its code, its server token (full API access
// to its own data) and optionally a device token for device calls.
type Application struct {
	Code        string
	ServerToken string
	DeviceToken string
	// OpenDevices lets device calls (registerDevice, setTags, ...) through
	// without any token: Pushwoosh's legacy behaviour older clients rely on.
	// Even then binding a userId, setting the consent tag, getTags and
	// unregisterDevice need a token (intake/devices.go, issue 13 items 1, 9).
	OpenDevices bool
	// LegacyUserBinding lets device-token calls (and tokenless ones when
	// OpenDevices) bind a phone to a userId or move it to another, as
	// Pushwoosh's legacy clients do. Off, that needs the server token:
	// whoever can put their phone under a user id receives that user's
	// SMS (security codes included). File only (legacy_user_binding);
	// for migrations, never a default.
	LegacyUserBinding bool
	// Policy overrides the fleet-wide content and policy defaults; only the
	// configuration file (SMSFLEET_CONFIG) sets it.
	Policy Policy
	// Route overrides the fleet-wide route (file only); nil: the default.
	Route *Route
	// CallbackSecret signs the application's status callbacks (file only;
	// SMSFLEET_CALLBACK_SECRETS otherwise).
	CallbackSecret string
	// CallbackAllowHTTP lets status_callback URLs be plain http (file
	// only; dev sets it): otherwise only https, so the signed outcome and
	// its phone number do not cross the network in clear.
	CallbackAllowHTTP bool
	// AllowBroadcast lets a notification with no devices, users or
	// conditions go to every registered SMS device of the application, as
	// Pushwoosh's "all subscribers" does (its clients send that by
	// default). Off, such a notification is refused: one missing field
	// must not text everyone. File only (allow_broadcast).
	AllowBroadcast bool
	// Inbound is the application's two-way SMS settings (file only,
	// inbound.go); nil for none. A pointer keeps Application comparable.
	Inbound *ApplicationInbound
	// Privacy: retention of texts and numbers, redaction, hashed numbers
	// (privacy.go; file only).
	Privacy Privacy
	// Guards are the application's guards over the fleet's (guards.go;
	// file only); nil: the fleet's. A pointer keeps Application comparable.
	Guards *Guards
	// Quotas cap the application's SMS, segments and money per UTC day and
	// month (quotas.go; file only).
	Quotas Quotas
}

// Applications is the list of tenants, parsed from SMSFLEET_APPLICATIONS:
// entries separated by commas, each CODE:SERVER_TOKEN[:DEVICE_TOKEN[:open]],
// for example "SHOP1-00001:s3cret:dev1,BANK0-00002:t0ken::open".
type Applications []Application

var appCode = regexp.MustCompile(`^[A-Za-z0-9]{5}-[A-Za-z0-9]{5}$`)

// UnmarshalText implements encoding.TextUnmarshaler for env parsing.
func (a *Applications) UnmarshalText(b []byte) error {
	var out Applications
	seenCode, seenToken := map[string]bool{}, map[string]bool{}
	for i, entry := range strings.Split(string(b), ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		f := strings.Split(entry, ":")
		if len(f) < 2 || len(f) > 4 {
			return fmt.Errorf("entry %d: want CODE:SERVER_TOKEN[:DEVICE_TOKEN[:open]]", i+1)
		}
		app := Application{Code: f[0], ServerToken: f[1]}
		if len(f) > 2 {
			app.DeviceToken = f[2]
		}
		if len(f) > 3 {
			if f[3] != "open" {
				return fmt.Errorf("entry %d: fourth field must be \"open\" or absent, got %q", i+1, f[3])
			}
			app.OpenDevices = true
		}
		if err := app.validate(); err != nil {
			return fmt.Errorf("entry %d: %w", i+1, err)
		}
		if seenCode[app.Code] {
			return fmt.Errorf("entry %d: application %s listed twice", i+1, app.Code)
		}
		for _, t := range []string{app.ServerToken, app.DeviceToken} {
			if t != "" && seenToken[t] {
				return fmt.Errorf("entry %d: a token is shared with another entry; every token must be unique", i+1)
			}
			seenToken[t] = true
		}
		seenCode[app.Code] = true
		out = append(out, app)
	}
	*a = out
	return nil
}

func (a Application) validate() error {
	if !appCode.MatchString(a.Code) {
		return fmt.Errorf("application code %q must look like XXXXX-XXXXX", a.Code)
	}
	if len(a.ServerToken) < 8 {
		return fmt.Errorf("server token of %s must be at least 8 characters", a.Code)
	}
	if a.DeviceToken != "" && a.DeviceToken == a.ServerToken {
		return fmt.Errorf("device token of %s must differ from its server token", a.Code)
	}
	return nil
}

var inboundWord = regexp.MustCompile(`^[A-Za-z0-9]{1,32}$`)

// checkWords makes sure the inbound keywords are single words and that no
// word both opts out and opts in.
func checkWords(in Inbound) error {
	stop := map[string]bool{}
	for _, w := range in.StopWords {
		if !inboundWord.MatchString(w) {
			return fmt.Errorf("config: SMSFLEET_INBOUND_STOP_WORDS: %q is not a single word of letters and digits", w)
		}
		stop[strings.ToUpper(w)] = true
	}
	for _, w := range in.StartWords {
		if !inboundWord.MatchString(w) {
			return fmt.Errorf("config: SMSFLEET_INBOUND_START_WORDS: %q is not a single word of letters and digits", w)
		}
		if stop[strings.ToUpper(w)] {
			return fmt.Errorf("config: %q is in both SMSFLEET_INBOUND_STOP_WORDS and SMSFLEET_INBOUND_START_WORDS", w)
		}
	}
	return nil
}
