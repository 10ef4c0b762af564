package config

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
)

// Admin configures the operator API under /api/v1/admin/ (internal/admin)
// and how quickly every pod applies what it changes (internal/traffic).
type Admin struct {
	// Token is the operator's bearer token (SMSFLEET_ADMIN_TOKEN). It is
	// never an application's token. Unset, the operator API answers 503
	// and changes nothing: it is never open. `smsfleet dev` generates one.
	Token string `env:"TOKEN"`
	// Name is who the audit log records a change by (the token's holder).
	Name string `env:"NAME" envDefault:"admin"`
	// Poll is how often every pod reads the traffic state (drains,
	// weights, pauses) and the delivery quality from Redis: a change takes
	// effect fleet-wide within about this long.
	Poll time.Duration `env:"POLL" envDefault:"1s"`
	// AuditMax bounds the audit log (newest kept).
	AuditMax int `env:"AUDIT_MAX" envDefault:"1000"`
}

// MinAdminToken is the shortest admin token accepted: a guessable one
// would open the switch to everyone who can reach the API.
const MinAdminToken = 16

var adminName = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

func (a Admin) validate() error {
	switch {
	case a.Token != "" && len(a.Token) < MinAdminToken:
		return fmt.Errorf("config: SMSFLEET_ADMIN_TOKEN must be at least %d characters", MinAdminToken)
	case !adminName.MatchString(a.Name):
		return fmt.Errorf("config: SMSFLEET_ADMIN_NAME must be 1 to 64 of A-Z a-z 0-9 . _ @ -, got %q", a.Name)
	case a.Poll < 10*time.Millisecond || a.Poll > time.Minute:
		return fmt.Errorf("config: SMSFLEET_ADMIN_POLL must be between 10ms and 1m, got %s", a.Poll)
	case a.AuditMax < 1 || a.AuditMax > 100_000:
		return fmt.Errorf("config: SMSFLEET_ADMIN_AUDIT_MAX must be between 1 and 100000, got %d", a.AuditMax)
	}
	return nil
}

// fillAdminToken generates dev's admin token when none is set (dev prints
// it in its banner). Outside dev there is no built-in token.
func (c *Config) fillAdminToken() {
	if !c.Dev || c.Admin.Token != "" {
		return
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("config: no randomness for the dev admin token: " + err.Error())
	}
	c.Admin.Token = "dev-admin-" + hex.EncodeToString(b[:])
}

// Quality configures routing on delivery quality (internal/traffic): a
// provider whose SMS stop being delivered loses weight. The default rule
// is GOV.UK Notify's: more than Threshold of the SMS whose receipt
// deadline fell in the last Window had no delivery receipt within
// Deadline of being accepted.
type Quality struct {
	// Enabled turns quality routing on (metrics and GET /api/v1/routes
	// still show the figures when off).
	Enabled bool `env:"ENABLED" envDefault:"true"`
	// Window is the sliding window the figures are taken over.
	Window time.Duration `env:"WINDOW" envDefault:"5m"`
	// Deadline is how long after its acceptance an SMS's delivery receipt
	// may come and still count as delivered.
	Deadline time.Duration `env:"DEADLINE" envDefault:"15m"`
	// Threshold is the share of SMS without a receipt in time above which
	// a provider loses weight.
	Threshold float64 `env:"THRESHOLD" envDefault:"0.15"`
	// Floor is the smallest share of its weight a provider keeps, so some
	// SMS still measure its recovery.
	Floor float64 `env:"FLOOR" envDefault:"0.05"`
	// MinSMS is how many SMS the window needs before it judges a provider
	// (fewer: full weight).
	MinSMS int `env:"MIN_SMS" envDefault:"20"`
}

func (q Quality) validate() error {
	switch {
	case q.Window < 10*time.Second || q.Window > 24*time.Hour:
		return fmt.Errorf("config: SMSFLEET_QUALITY_WINDOW must be between 10s and 24h, got %s", q.Window)
	case q.Deadline < time.Second || q.Deadline > 24*time.Hour:
		return fmt.Errorf("config: SMSFLEET_QUALITY_DEADLINE must be between 1s and 24h, got %s", q.Deadline)
	case !(q.Threshold > 0 && q.Threshold < 1):
		return fmt.Errorf("config: SMSFLEET_QUALITY_THRESHOLD must be in (0, 1), got %v", q.Threshold)
	case !(q.Floor > 0 && q.Floor <= 1):
		return fmt.Errorf("config: SMSFLEET_QUALITY_FLOOR must be in (0, 1], got %v", q.Floor)
	case q.MinSMS < 1:
		return fmt.Errorf("config: SMSFLEET_QUALITY_MIN_SMS must be positive, got %d", q.MinSMS)
	}
	return nil
}

// validateTraffic checks the operator API's and quality routing's settings.
// A zero section (a Config built in code, not by Load or Default) is
// left alone, as the breaker's is: the users fill its defaults.
func (c Config) validateTraffic() error {
	if c.Admin != (Admin{}) {
		if err := c.Admin.validate(); err != nil {
			return err
		}
	}
	for _, app := range c.Applications {
		if c.Admin.Token != "" && (c.Admin.Token == app.ServerToken || c.Admin.Token == app.DeviceToken) {
			return fmt.Errorf("config: SMSFLEET_ADMIN_TOKEN must not be an application's token (it is %s's)", app.Code)
		}
	}
	if c.Quality != (Quality{}) {
		return c.Quality.validate()
	}
	return nil
}
