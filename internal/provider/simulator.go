package provider

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// KindSimulator is smsfleet's provider simulator (internal/simulator): a
// Twilio-style API, so its client is a Twilio client and its delivery
// receipts Twilio-style status callbacks, while its inbound replies come
// in the JSON format. Both are signed with the simulator's test token.
const KindSimulator KindName = "simulator"

// The simulator's test account. The simulator accepts any non-empty
// credentials whose user matches the account in the path; these fixed ones
// let every test and dev set-up reach it without configuration.
const (
	SimulatorAccountSID = "ACsimulator"
	SimulatorAuthToken  = "simulator-token"
)

func init() { register(simulatorKind{}) }

type simulatorKind struct{}

func (simulatorKind) Name() KindName { return KindSimulator }

// Validate accepts everything: an empty url means the simulator running
// in the process (Deps.SimulatorURL), known only when the fleet starts.
func (simulatorKind) Validate(Config) error { return nil }

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

// simulatorWebhooks: Twilio's receipts, the JSON kind's replies, one fixed
// token.
type simulatorWebhooks struct{}

func (simulatorWebhooks) Secret(Config) string { return SimulatorAuthToken }

func (simulatorWebhooks) ParseReceipt(src Source, r *http.Request, body []byte, now time.Time) (sms.Receipt, error) {
	return ParseTwilioReceipt(src, r, body, now)
}

func (simulatorWebhooks) ParseReply(src Source, r *http.Request, body []byte) (Reply, error) {
	return ParseJSONReply(src, r, body)
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
