package provider

import (
	"net/http"
	"net/url"
	"strings"
)

// The simulator's test account. The simulator accepts any non-empty
// credentials whose user matches the account in the path; these fixed ones
// let every test and dev set-up reach it without configuration.
const (
	SimulatorAccountSID = "ACsimulator"
	SimulatorAuthToken  = "simulator-token"
)

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
