package config

import (
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/provider"
)

// TestSimulatorSwitch: SMSFLEET_SIMULATOR takes only "inprocess", and a
// fleet that sends needs a provider, a standalone simulator or the
// in-process one asked for (issue 13, item 3).
func TestSimulatorSwitch(t *testing.T) {
	t.Setenv("SMSFLEET_APPLICATIONS", "SHOP1-00001:server-token")
	for _, tt := range []struct {
		simulator, url string
		wantErr        string
	}{
		{"", "", ""},
		{"inprocess", "", ""},
		{"", "http://sim:8080/simulator", ""},
		{"in-process", "", `SMSFLEET_SIMULATOR must be inprocess or empty, got "in-process"`},
		{"true", "", `SMSFLEET_SIMULATOR must be inprocess or empty, got "true"`},
		{"inprocess", "http://sim:8080/simulator", "SMSFLEET_SIMULATOR=inprocess and SMSFLEET_SIMULATOR_URL are exclusive"},
	} {
		t.Setenv("SMSFLEET_SIMULATOR", tt.simulator)
		t.Setenv("SMSFLEET_SIMULATOR_URL", tt.url)
		_, err := Load()
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("SMSFLEET_SIMULATOR=%q SMSFLEET_SIMULATOR_URL=%q: error %v, want %q", tt.simulator, tt.url, err, tt.wantErr)
		}
	}

	noProvider := "no provider configured: set providers: in the SMSFLEET_CONFIG file, or SMSFLEET_SIMULATOR_URL to a running `smsfleet simulator`, or SMSFLEET_SIMULATOR=inprocess for a test fleet"
	twilio := provider.Config{Name: "tw", Kind: "twilio", URL: "https://api.example"}
	localSim := provider.Config{Name: "local", Kind: provider.KindSimulator}
	for _, tt := range []struct {
		name    string
		c       Config
		wantErr string
	}{
		{"nothing", Config{}, noProvider},
		{"providers", Config{Providers: []provider.Config{twilio}}, ""},
		{"a standalone simulator", Config{SimulatorURL: "http://sim:8080/simulator"}, ""},
		{"the in-process simulator", Config{Simulator: SimulatorInProcess}, ""},
		{"a simulator provider without url", Config{Providers: []provider.Config{twilio, localSim}}, "provider local is a simulator without a url"},
		{"a simulator provider on the standalone one", Config{Providers: []provider.Config{localSim}, SimulatorURL: "http://sim:8080/simulator"}, ""},
		{"a simulator provider in process", Config{Providers: []provider.Config{localSim}, Simulator: SimulatorInProcess}, ""},
	} {
		err := tt.c.RequireProvider()
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: RequireProvider() = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}
