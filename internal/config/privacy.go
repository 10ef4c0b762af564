package config

import (
	"fmt"
	"os"
	"time"
)

// Privacy is what an application decides about the personal data the
// fleet keeps for it (issue 17, docs/privacy.md): how long its message
// texts and its recipients' numbers are kept, whether texts are redacted
// once sent, and whether outcome events and status callbacks carry its
// numbers or a keyed hash of them. File only (the application's entry in
// SMSFLEET_CONFIG); zero values mean the fleet-wide defaults.
type Privacy struct {
	// TextRetention bounds how long a message's text (its content and
	// dynamic_content_placeholders) is kept after its SMS could last be
	// sent (its send time plus validity); "" is SMSFLEET_TEXT_RETENTION.
	TextRetention string `yaml:"text_retention"`
	// NumberRetention bounds how long its recipients' numbers are kept
	// (SMS records, recipient lists, the per-phone index) after its SMS
	// could last settle; "" is SMSFLEET_NUMBER_RETENTION.
	NumberRetention string `yaml:"number_retention"`
	// Redact is the default of createMessage's `redact`: true redacts
	// every message's text once its SMS are settled, false none; unset,
	// only security codes (message_type otp) are redacted.
	Redact *bool `yaml:"redact"`
	// HashNumbers replaces the phone number in the application's outcome
	// events (Kafka) and status callbacks by phone_hash, the hex
	// HMAC-SHA256 of the E.164 number keyed with NumberHashKey.
	HashNumbers bool `yaml:"hash_numbers"`
	// NumberHashKey is that key; number_hash_key_env names an environment
	// variable holding it instead (a Secret, not the ConfigMap).
	NumberHashKey    string `yaml:"number_hash_key"`
	NumberHashKeyEnv string `yaml:"number_hash_key_env"`
}

// PrivacyDefaults are the fleet-wide privacy defaults (environment).
type PrivacyDefaults struct {
	// TextRetention and NumberRetention default an application's; 0 (unset)
	// is SMSFLEET_RETENTION, the statistics retention, which bounds both.
	TextRetention   time.Duration `env:"TEXT_RETENTION"`
	NumberRetention time.Duration `env:"NUMBER_RETENTION"`
}

// MinNumberHashKey is the shortest number hash key accepted: a short key
// lets anyone who knows the numbering plan reverse the hashes.
const MinNumberHashKey = 32

// MinPrivacyRetention is the shortest text or number retention: below it
// an hour-long delivery wait would outlive the data it reports on.
const MinPrivacyRetention = time.Hour

// Retentions is how long an application's data is kept: Stats bounds the
// message and its counts (SMSFLEET_RETENTION), Texts its texts, Numbers
// its numbers; Texts and Numbers are at most Stats.
type Retentions struct {
	Stats, Texts, Numbers time.Duration
}

// ResolvedPrivacy is an application's Privacy with every default filled in.
type ResolvedPrivacy struct {
	Retentions
	// Redact is the application's default for `redact` (nil: otp only).
	Redact *bool
	// HashKey keys the number hashes of its outcome events; nil: the
	// events carry the number.
	HashKey []byte
}

// RedactByDefault says whether a message of type typ is redacted when its
// notification does not say.
func (p ResolvedPrivacy) RedactByDefault(typ string) bool {
	return Privacy{Redact: p.Redact}.RedactByDefault(typ)
}

// RedactByDefault is the same for an application's settings as configured
// (the intake reads them from its applications).
func (p Privacy) RedactByDefault(typ string) bool {
	if p.Redact != nil {
		return *p.Redact
	}
	return typ == "otp"
}

// load reads the key from its environment variable, for the file hook
// (FileApplication.application).
func (p Privacy) load(app string) (Privacy, error) {
	if p.NumberHashKeyEnv != "" {
		p.NumberHashKey = os.Getenv(p.NumberHashKeyEnv)
		if p.NumberHashKey == "" {
			return Privacy{}, fmt.Errorf("application %s: number_hash_key_env %s is empty", app, p.NumberHashKeyEnv)
		}
	}
	return p, nil
}

// resolve fills p's zero values from def, failing on what cannot work and
// naming the application and the setting.
func (p Privacy) resolve(app string, def Retentions) (ResolvedPrivacy, error) {
	r := ResolvedPrivacy{Retentions: def, Redact: p.Redact}
	for _, f := range []struct {
		name, v string
		to      *time.Duration
	}{{"text_retention", p.TextRetention, &r.Texts}, {"number_retention", p.NumberRetention, &r.Numbers}} {
		if f.v == "" {
			continue
		}
		d, err := time.ParseDuration(f.v)
		if err != nil {
			return ResolvedPrivacy{}, fmt.Errorf("application %s: %s %q is not a duration such as 168h", app, f.name, f.v)
		}
		*f.to = d
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"text_retention", r.Texts}, {"number_retention", r.Numbers}} {
		if f.d < MinPrivacyRetention || f.d > r.Stats {
			return ResolvedPrivacy{}, fmt.Errorf("application %s: %s must be from %s to SMSFLEET_RETENTION (%s), got %s", app, f.name, MinPrivacyRetention, r.Stats, f.d)
		}
	}
	switch {
	case p.HashNumbers && p.NumberHashKey == "":
		return ResolvedPrivacy{}, fmt.Errorf("application %s: hash_numbers is on but no number_hash_key (or number_hash_key_env) is set", app)
	case p.NumberHashKey != "" && len(p.NumberHashKey) < MinNumberHashKey:
		return ResolvedPrivacy{}, fmt.Errorf("application %s: number_hash_key must be at least %d characters", app, MinNumberHashKey)
	case p.HashNumbers:
		r.HashKey = []byte(p.NumberHashKey)
	}
	return r, nil
}

// defaultRetentions are the fleet-wide retentions: unset text and number
// retentions are the statistics retention.
func (c Config) defaultRetentions() Retentions {
	r := Retentions{Stats: c.Retention, Texts: c.Privacy.TextRetention, Numbers: c.Privacy.NumberRetention}
	if r.Texts == 0 {
		r.Texts = r.Stats
	}
	if r.Numbers == 0 {
		r.Numbers = r.Stats
	}
	return r
}

// validatePrivacy checks the fleet-wide retentions and every
// application's privacy settings, so a bad one stops start-up.
func (c Config) validatePrivacy() error {
	def := c.defaultRetentions()
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"SMSFLEET_TEXT_RETENTION", def.Texts}, {"SMSFLEET_NUMBER_RETENTION", def.Numbers}} {
		if f.d < MinPrivacyRetention || f.d > def.Stats {
			return fmt.Errorf("config: %s must be from %s to SMSFLEET_RETENTION (%s), got %s", f.name, MinPrivacyRetention, def.Stats, f.d)
		}
	}
	for _, app := range c.Applications {
		if _, err := app.Privacy.resolve(app.Code, def); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// PrivacyOf returns an application's resolved privacy settings (the
// fleet-wide defaults for an application that sets none). Validate must
// have run.
func (c Config) PrivacyOf(app string) ResolvedPrivacy {
	if r, ok := c.privacies[app]; ok {
		return r
	}
	def := c.defaultRetentions()
	for _, a := range c.Applications {
		if a.Code == app {
			r, err := a.Privacy.resolve(app, def)
			if err == nil {
				return r
			}
		}
	}
	return ResolvedPrivacy{Retentions: def}
}

// resolvePrivacies resolves every application's privacy once (Validate,
// after validatePrivacy passed): the store and the outcome relay ask for
// them on every message and every event.
func (c Config) resolvePrivacies() map[string]ResolvedPrivacy {
	def := c.defaultRetentions()
	out := make(map[string]ResolvedPrivacy, len(c.Applications))
	for _, a := range c.Applications {
		if r, err := a.Privacy.resolve(a.Code, def); err == nil {
			out[a.Code] = r
		}
	}
	return out
}

// RetentionsOf is PrivacyOf's retentions alone (the store's view).
func (c Config) RetentionsOf(app string) Retentions { return c.PrivacyOf(app).Retentions }

// NumberHashKeyOf is the key app's numbers are hashed with in its outcome
// events, nil when they carry the number.
func (c Config) NumberHashKeyOf(app string) []byte { return c.PrivacyOf(app).HashKey }
