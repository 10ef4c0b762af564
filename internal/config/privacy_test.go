package config

import (
	"bytes"
	"crypto/hmac"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loadWithFile loads the configuration with body as SMSFLEET_CONFIG and
// env set on top.
func loadWithFile(t *testing.T, body string, env map[string]string) (Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SMSFLEET_CONFIG", p)
	for k, v := range env {
		t.Setenv(k, v)
	}
	return Load()
}

// TestPrivacyResolves: per-application retentions, redaction and hash
// keys come from the file, the fleet-wide defaults from the environment.
func TestPrivacyResolves(t *testing.T) {
	key := strings.Repeat("k", MinNumberHashKey)
	c, err := loadWithFile(t, `applications:
  - {code: PRIV0-00001, server_token: priv-server-token, text_retention: 24h, number_retention: 72h, redact: true, hash_numbers: true, number_hash_key_env: PRIV_KEY}
  - {code: PLAIN-00002, server_token: plain-server-token}
`, map[string]string{"PRIV_KEY": key, "SMSFLEET_RETENTION": "240h", "SMSFLEET_TEXT_RETENTION": "120h"})
	if err != nil {
		t.Fatal(err)
	}
	p := c.PrivacyOf("PRIV0-00001")
	if p.Stats != 240*time.Hour || p.Texts != 24*time.Hour || p.Numbers != 72*time.Hour {
		t.Errorf("PRIV0 retentions %+v", p.Retentions)
	}
	if !bytes.Equal(p.HashKey, []byte(key)) || !p.RedactByDefault("marketing") {
		t.Errorf("PRIV0 hash key %q, redact marketing %v", p.HashKey, p.RedactByDefault("marketing"))
	}
	q := c.PrivacyOf("PLAIN-00002")
	if q.Texts != 120*time.Hour || q.Numbers != 240*time.Hour || q.HashKey != nil {
		t.Errorf("PLAIN defaults %+v", q)
	}
	if !q.RedactByDefault("otp") || q.RedactByDefault("transactional") {
		t.Errorf("PLAIN redacts otp %v, transactional %v; want only otp", q.RedactByDefault("otp"), q.RedactByDefault("transactional"))
	}
	if !hmac.Equal(c.NumberHashKeyOf("PRIV0-00001"), []byte(key)) || c.NumberHashKeyOf("PLAIN-00002") != nil {
		t.Error("NumberHashKeyOf")
	}
}

// TestPrivacyBadConfig: each bad privacy setting stops start-up with an
// error naming the application (or the variable) and the setting.
func TestPrivacyBadConfig(t *testing.T) {
	short := strings.Repeat("k", MinNumberHashKey-1)
	for _, tc := range []struct {
		name, app string
		env       map[string]string
		want      []string
	}{
		{"hashing without key", `hash_numbers: true`, nil, []string{"BAD00-00001", "hash_numbers", "number_hash_key"}},
		{"hash key env empty", `hash_numbers: true, number_hash_key_env: NO_SUCH_KEY_VAR`, nil, []string{"BAD00-00001", "number_hash_key_env NO_SUCH_KEY_VAR is empty"}},
		{"short hash key", `hash_numbers: true, number_hash_key: ` + short, nil, []string{"BAD00-00001", "at least 32"}},
		{"text retention not a duration", `text_retention: week`, nil, []string{"BAD00-00001", "text_retention \"week\""}},
		{"text retention too short", `text_retention: 10m`, nil, []string{"BAD00-00001", "text_retention must be from 1h0m0s"}},
		{"number retention beyond statistics", `number_retention: 1000h`, nil, []string{"BAD00-00001", "number_retention", "SMSFLEET_RETENTION (720h0m0s)"}},
		{"fleet text retention beyond statistics", ``, map[string]string{"SMSFLEET_TEXT_RETENTION": "800h"}, []string{"SMSFLEET_TEXT_RETENTION"}},
		{"fleet number retention too short", ``, map[string]string{"SMSFLEET_NUMBER_RETENTION": "30m"}, []string{"SMSFLEET_NUMBER_RETENTION"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := "code: BAD00-00001, server_token: bad-server-token"
			if tc.app != "" {
				app += ", " + tc.app
			}
			_, err := loadWithFile(t, "applications:\n  - {"+app+"}\n", tc.env)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
