package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestApplicationInbound: an application's inbound block is read from the
// configuration file and checked at start-up; each bad one stops the
// load with an error naming the application and the field.
func TestApplicationInbound(t *testing.T) {
	dir := t.TempDir()
	load := func(t *testing.T, block string) (Config, error) {
		p := filepath.Join(dir, "c.yaml")
		body := "applications:\n  - code: SHOP1-00001\n    server_token: shop-server-token\n    callback_secret: shop-callback-secret-0123\n" + block
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("SMSFLEET_CONFIG", p)
		t.Setenv("SMSFLEET_SIMULATOR_SECRET", "s3cret")
		return Load()
	}
	tests := []struct {
		name  string
		block string
		want  string // in the error; "" loads
	}{
		{"none", "", ""},
		{"all of it", `    inbound:
      callback_url: https://shop.example.com/replies
      stop_words: [ARRET]
      start_words: [ARRIBA]
      help_text: "Shop: help at shop.example.com"
      stop_confirmation: "Shop: stopped"
      start_confirmation: "Shop: started"
`, ""},
		{"help words without a help text", "    inbound: {help_words: [HELP]}\n", "SHOP1-00001: inbound.help_text: required with help_words"},
		{"a help word that is a STOP word", "    inbound: {help_words: [STOP], help_text: x}\n", `inbound.help_words: "STOP" is already a stop word`},
		{"a start word that is the application's stop word", "    inbound: {stop_words: [HALT], start_words: [halt]}\n", `inbound.start_words: "halt" is already a stop word`},
		{"a word of two words", "    inbound: {stop_words: [\"STOP NOW\"]}\n", `inbound.stop_words: "STOP NOW" is not a single word`},
		{"a help text too long for an SMS", "    inbound: {help_text: \"" + strings.Repeat("x", MaxAutoReply+1) + "\"}\n", "inbound.help_text: 613 characters, at most 612"},
		{"a callback URL that is not one", "    inbound: {callback_url: \"shop.example.com\"}\n", "inbound.callback_url: \"shop.example.com\" is not an absolute http(s) URL"},
		{"a plain http callback URL", "    inbound: {callback_url: \"http://shop.example.com/r\"}\n", "inbound.callback_url: must be https"},
		{"an unknown key", "    inbound: {callback: \"https://x.example\"}\n", "field callback not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.block)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to name %q", err, tt.want)
			}
		})
	}
	c, err := load(t, "    inbound: {help_text: \"Shop help\", callback_url: \"https://shop.example.com/r\"}\n")
	if err != nil {
		t.Fatal(err)
	}
	in := c.InboundOf("SHOP1-00001")
	if in.HelpText != "Shop help" || !slices.Equal(in.HelpWords, DefaultHelpWords) || in.CallbackURL != "https://shop.example.com/r" {
		t.Fatalf("InboundOf: %+v, want the help text with the default help words", in)
	}
	if got := c.InboundOf("NOPE1-00000"); got.CallbackURL != "" || got.HelpText != "" {
		t.Fatalf("InboundOf an unknown application: %+v", got)
	}
}

// TestInboundCallbackNeedsASecret: a callback URL without a callback
// secret to sign it with is refused (an unsigned POST would teach the
// receiver to accept forgeries).
func TestInboundCallbackNeedsASecret(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	body := "applications:\n  - code: SHOP1-00001\n    server_token: shop-server-token\n    inbound: {callback_url: \"https://shop.example.com/r\"}\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SMSFLEET_CONFIG", p)
	t.Setenv("SMSFLEET_SIMULATOR_SECRET", "s3cret")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "inbound.callback_url: the application has no callback secret") {
		t.Fatalf("error %v", err)
	}
	t.Setenv("SMSFLEET_CALLBACK_SECRETS", "SHOP1-00001=shop-callback-secret-0123")
	if _, err := Load(); err != nil {
		t.Fatalf("with SMSFLEET_CALLBACK_SECRETS: %v", err)
	}
}
