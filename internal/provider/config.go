package provider

import (
	"context"
	"os"
	"time"
)

// Config is one SMS provider the workers can send through, as the
// configuration file (SMSFLEET_CONFIG's providers:) describes it; its kind
// says which fields matter. Secrets are read from the environment
// variables the *_env keys name, so the file can sit in a ConfigMap and
// the secrets in a Secret; they are never logged.
type Config struct {
	Name    string        `yaml:"name"`
	Kind    KindName      `yaml:"kind"`
	Timeout time.Duration `yaml:"timeout"`

	// simulator, twilio, json
	URL string `yaml:"url"`
	// twilio
	AccountSID          string `yaml:"account_sid"`
	AccountSIDEnv       string `yaml:"account_sid_env"`
	AuthTokenEnv        string `yaml:"auth_token_env"`
	MessagingServiceSID string `yaml:"messaging_service_sid"`
	StatusCallback      string `yaml:"status_callback"`
	// json
	Method          string `yaml:"method"`
	AuthHeader      string `yaml:"auth_header"`
	AuthValueEnv    string `yaml:"auth_value_env"`
	RequestTemplate string `yaml:"request_template"`
	RefField        string `yaml:"ref_field"`
	// json, simulator
	// DLRSecretEnv names the variable holding the key a json or simulator
	// provider signs its delivery receipts and replies with (Standard
	// Webhooks, see internal/signature). Required outside dev.
	DLRSecretEnv string `yaml:"dlr_secret_env"`
	// LegacySignature (json) also accepts the old X-Signature: sha256=<hex
	// HMAC of the body> from a gateway that cannot send Standard Webhooks.
	// That scheme signs no timestamp or id: a captured webhook can be
	// replayed for ever. Off unless set.
	LegacySignature bool `yaml:"legacy_signature"`
	// WebhookSecret is a simulator provider's secret when DLRSecretEnv
	// names none: SMSFLEET_SIMULATOR_SECRET, filled in by the configuration
	// (dev generates one). Never read from the file.
	WebhookSecret string `yaml:"-"`
	// smpp
	Addr        string        `yaml:"addr"`
	SystemID    string        `yaml:"system_id"`
	PasswordEnv string        `yaml:"password_env"`
	SystemType  string        `yaml:"system_type"`
	TLS         bool          `yaml:"tls"`
	Window      int           `yaml:"window"`
	EnquireLink time.Duration `yaml:"enquire_link"`
	// MessageIDType is how the SMSC writes message ids in submit_sm_resp
	// and in receipts (as-is, dec, hex, hex-dec, dec-hex; see
	// smpp_msgid.go), as Kannel's msg-id-type and Jasmin's dlr_msgid.
	MessageIDType string `yaml:"message_id_type"`
	// ValidityFormat is how an SMS's validity goes in submit_sm's
	// validity_period: relative (default), absolute or none (see
	// smpp_validity.go).
	ValidityFormat string `yaml:"validity_format"`
}

// DefaultTimeout bounds one send when a provider's timeout is not set.
const DefaultTimeout = 10 * time.Second

// timeout is c's send timeout with its default.
func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// Secret reads a secret from the environment variable named by name ("" if
// none is named).
func Secret(name string) string {
	if name == "" {
		return ""
	}
	return os.Getenv(name)
}

// Runner is a client that holds a connection of its own (SMPP): its owner
// calls Run once, and Run returns when ctx is done or the client is
// closed. Constructors start nothing, so a client that is built and
// dropped (a failed start-up) leaves nothing running.
type Runner interface {
	Run(ctx context.Context) error
}
