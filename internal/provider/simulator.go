package provider

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// KindSimulator is smsfleet's provider simulator (internal/simulator): a
// Twilio-style API, so its client is a Twilio client and its delivery
// receipts carry Twilio's status-callback form fields, while its inbound
// replies come in the JSON format. Both are signed the Standard Webhooks
// way (webhook-id, webhook-timestamp, webhook-signature) with the
// provider's secret: dlr_secret_env, else SMSFLEET_SIMULATOR_SECRET
// (Config.WebhookSecret), which only dev generates. There is no built-in
// default: a known key would let anyone forge a STOP or a receipt.
const KindSimulator KindName = "simulator"

// The simulator's test account. The simulator accepts any non-empty
// credentials whose user matches the account in the path; these fixed ones
// let every test and dev set-up reach it without configuration. The token
// is the simulator's API credential only: it signs no webhook.
const (
	SimulatorAccountSID = "ACsimulator"
	SimulatorAuthToken  = "simulator-token"
)

func init() { register(simulatorKind{}) }

type simulatorKind struct{}

func (simulatorKind) Name() KindName { return KindSimulator }

// Validate requires the webhook secret; an empty url is fine: it means the
// simulator running in the process (Deps.SimulatorURL), known only when
// the fleet starts.
func (simulatorKind) Validate(c Config) error {
	if (simulatorWebhooks{}).Secret(c) == "" {
		return fmt.Errorf("provider %s (simulator): dlr_secret_env must name a set environment variable, or SMSFLEET_SIMULATOR_SECRET must be set (the secret its webhooks are signed with)", c.Name)
	}
	return nil
}

func (simulatorKind) New(c Config, d Deps) (Provider, error) {
	base := c.URL
	if base == "" {
		base = d.SimulatorURL
	}
	if base == "" {
		return nil, errors.New("a simulator needs a url (no simulator runs in this process)")
	}
	sim := NewSimulator(c.Name, base, d.HTTP)
	sim.SetStatusCallback(d.statusCallback(c.Name))
	return sim, nil
}

func (simulatorKind) Webhooks() Webhooks { return simulatorWebhooks{} }

// simulatorWebhooks: Twilio's receipt fields, the JSON kind's replies,
// both signed with Standard Webhooks.
type simulatorWebhooks struct{}

// Secret is the provider's own (dlr_secret_env), else the fleet's
// simulator secret.
func (simulatorWebhooks) Secret(c Config) string {
	if s := Secret(c.DLRSecretEnv); s != "" {
		return s
	}
	return c.WebhookSecret
}

// ParseReceipt reads a form body of Twilio's status-callback fields,
// signed with Standard Webhooks (not X-Twilio-Signature, which signs no
// timestamp).
func (simulatorWebhooks) ParseReceipt(src Source, r *http.Request, body []byte, now time.Time) (sms.Receipt, Replay, error) {
	replay, err := verifyStandard(Source{Name: src.Name, Secret: src.Secret}, r, body, now)
	if err != nil {
		return sms.Receipt{}, Replay{}, err
	}
	f, err := parseForm(body)
	if err != nil {
		return sms.Receipt{}, Replay{}, err
	}
	rec, err := twilioReceiptFields(src, f, now)
	if err != nil {
		return sms.Receipt{}, Replay{}, err
	}
	return rec, replay, nil
}

func (simulatorWebhooks) ParseReply(src Source, r *http.Request, body []byte, now time.Time) (Reply, Replay, error) {
	// Never the legacy scheme: a simulator provider cannot opt in to it.
	return ParseJSONReply(Source{Name: src.Name, Secret: src.Secret}, r, body, now)
}

func (simulatorWebhooks) AnswerReply(w http.ResponseWriter) { jsonWebhooks{}.AnswerReply(w) }

// NewSimulator returns a client of provider name on smsfleet's provider
// simulator (internal/simulator) mounted at baseURL, for example
// http://127.0.0.1:8080/simulator. The simulator speaks the Twilio-style
// API, so this is a Twilio client on baseURL/name with the simulator's test
// account: sends through it exercise the real client end to end. A nil hc
// gets NewHTTPClient().
func NewSimulator(name, baseURL string, hc *http.Client) *Twilio {
	return NewTwilio(TwilioConfig{
		Name:       name,
		BaseURL:    strings.TrimRight(baseURL, "/") + "/" + url.PathEscape(name),
		AccountSID: SimulatorAccountSID,
		AuthToken:  SimulatorAuthToken,
	}, hc)
}
