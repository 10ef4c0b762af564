package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLegacyUserBindingIsExplicit (issue 13 item 1): letting device
// tokens bind phones to user ids is off unless an application's file
// entry says legacy_user_binding: true; SMSFLEET_APPLICATIONS has no
// field for it (a fifth field is an error), so an environment-only
// application never has it.
func TestLegacyUserBindingIsExplicit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "smsfleet.yaml")
	if err := os.WriteFile(p, []byte(`
applications:
  - code: BANK1-00002
    server_token: bank-secret-token
    device_token: bank-device-token
  - code: LEGC1-00003
    server_token: legacy-server-token
    device_token: legacy-device-token
    legacy_user_binding: true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SMSFLEET_APPLICATIONS", "SHOP1-00001:shop-server-token:shop-device-token:open")
	t.Setenv("SMSFLEET_CONFIG", p)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"SHOP1-00001": false, "BANK1-00002": false, "LEGC1-00003": true}
	if len(c.Applications) != len(want) {
		t.Fatalf("applications %+v", c.Applications)
	}
	for _, a := range c.Applications {
		if a.LegacyUserBinding != want[a.Code] {
			t.Errorf("%s: LegacyUserBinding %v, want %v", a.Code, a.LegacyUserBinding, want[a.Code])
		}
	}
	var apps Applications
	if err := apps.UnmarshalText([]byte("SHOP1-00001:shop-server-token:shop-device-token:open:legacy_user_binding")); err == nil {
		t.Fatal("a fifth field was accepted")
	}
}
