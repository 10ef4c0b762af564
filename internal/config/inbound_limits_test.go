package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loadShop loads a configuration of one application whose entry ends
// with extra (indented under it).
func loadShop(t *testing.T, extra string) (Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	body := "applications:\n  - code: SHOP1-00001\n    server_token: shop-server-token\n    callback_secret: shop-callback-secret-0123\n" + extra
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SMSFLEET_CONFIG", p)
	t.Setenv("SMSFLEET_SIMULATOR_SECRET", "s3cret")
	return Load()
}

// TestAnswerLimits: answer_limits is read per keyword, a keyword left out
// keeps its default, and each bad value stops the load naming the
// application and the field.
func TestAnswerLimits(t *testing.T) {
	tests := []struct {
		name  string
		block string
		want  AnswerLimits // when it loads
		err   string       // in the error; "" loads
	}{
		{"none: the defaults", "", DefaultAnswerLimits, ""},
		{"help only", "{help: {max: 3, per: 1h}}", AnswerLimits{Help: AnswerLimit{3, time.Hour}, Stop: DefaultAnswerLimits.Stop, Start: DefaultAnswerLimits.Start}, ""},
		{"all three", "{help: {max: 2, per: 5m}, stop: {max: 1, per: 24h}, start: {max: 2, per: 2h}}",
			AnswerLimits{Help: AnswerLimit{2, 5 * time.Minute}, Stop: AnswerLimit{1, 24 * time.Hour}, Start: AnswerLimit{2, 2 * time.Hour}}, ""},
		{"a window that is no duration", "{help: {max: 1, per: ten}}", AnswerLimits{}, `SHOP1-00001: inbound.answer_limits.help.per: "ten" is not a duration`},
		{"no max", "{stop: {per: 1h}}", AnswerLimits{}, "SHOP1-00001: inbound.answer_limits.stop.max: must be from 1 to 100, got 0"},
		{"too many", "{help: {max: 101, per: 1h}}", AnswerLimits{}, "inbound.answer_limits.help.max: must be from 1 to 100"},
		{"a window under a minute", "{start: {max: 1, per: 30s}}", AnswerLimits{}, "inbound.answer_limits.start.per: must be from 1m0s to 168h0m0s, got 30s"},
		{"a window over a week", "{start: {max: 1, per: 200h}}", AnswerLimits{}, "inbound.answer_limits.start.per: must be from"},
		{"an unknown keyword", "{stopp: {max: 1, per: 1h}}", AnswerLimits{}, "field stopp not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			block := "    inbound: {help_text: \"Shop help\"}\n"
			if tt.block != "" {
				block = "    inbound:\n      help_text: \"Shop help\"\n      answer_limits: " + tt.block + "\n"
			}
			c, err := loadShop(t, block)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want it to name %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			in := c.InboundOf("SHOP1-00001")
			for kw, want := range map[string]AnswerLimit{"help": tt.want.Help, "stop": tt.want.Stop, "start": tt.want.Start} {
				if got, ok := in.AnswerLimitOf(kw); !ok || got != want {
					t.Errorf("%s: %+v %v, want %+v", kw, got, ok, want)
				}
			}
		})
	}
	if _, ok := (ApplicationInbound{}).AnswerLimitOf(""); ok {
		t.Fatal("a reply that is no keyword has an answer limit")
	}
}

// TestAnswerLimitsSetInCodeAreChecked: limits set on the struct (as the
// e2e tests do) are validated like the file's.
func TestAnswerLimitsSetInCodeAreChecked(t *testing.T) {
	c := Default()
	c.Applications = Applications{{Code: "SHOP1-00001", ServerToken: "shop-server-token",
		Inbound: &ApplicationInbound{AnswerLimits: AnswerLimits{Help: AnswerLimit{Max: 0, Per: time.Hour}}}}}
	if err := c.validateApplicationsInbound(); err == nil || !strings.Contains(err.Error(), "inbound.answer_limits.help.max") {
		t.Fatalf("error %v", err)
	}
}

// TestStartBlockedTextAndHashKey: start_blocked_text is read and bounded
// like the other answers, and InboundOf carries the application's number
// hash key when it has hash_numbers (nil otherwise).
func TestStartBlockedTextAndHashKey(t *testing.T) {
	key := strings.Repeat("k", MinNumberHashKey)
	c, err := loadShop(t, "    hash_numbers: true\n    number_hash_key: "+key+"\n    inbound: {start_blocked_text: \"Shop: still stopped\"}\n")
	if err != nil {
		t.Fatal(err)
	}
	in := c.InboundOf("SHOP1-00001")
	if in.StartBlockedText != "Shop: still stopped" || string(in.NumberHashKey) != key {
		t.Fatalf("InboundOf: %+v", in)
	}
	if c.InboundOf("OTHER-00001").NumberHashKey != nil {
		t.Fatal("an application without hash_numbers got a hash key")
	}
	_, err = loadShop(t, "    inbound: {start_blocked_text: \""+strings.Repeat("x", MaxAutoReply+1)+"\"}\n")
	if err == nil || !strings.Contains(err.Error(), "inbound.start_blocked_text: 613 characters") {
		t.Fatalf("error %v", err)
	}
	c, err = loadShop(t, "    inbound: {help_text: x}\n")
	if err != nil || c.InboundOf("SHOP1-00001").NumberHashKey != nil {
		t.Fatalf("without hash_numbers: %v %v", c.InboundOf("SHOP1-00001").NumberHashKey, err)
	}
}
