package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCallbackAllowHTTP: callback_allow_http is per application, read from
// the file, and off unless set (issue 13, item 11).
func TestCallbackAllowHTTP(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	body := `applications:
  - {code: HOOKS-00001, server_token: hooks-server-token, callback_allow_http: true}
  - {code: SAFE0-00002, server_token: safe-server-token}
`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SMSFLEET_CONFIG", p)
	t.Setenv("SMSFLEET_APPLICATIONS", "SHOP1-00001:shop-server-token")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"SHOP1-00001": false, "HOOKS-00001": true, "SAFE0-00002": false}
	for _, a := range c.Applications {
		if a.CallbackAllowHTTP != want[a.Code] {
			t.Errorf("%s: CallbackAllowHTTP = %v, want %v", a.Code, a.CallbackAllowHTTP, want[a.Code])
		}
	}
	if len(c.Applications) != 3 {
		t.Fatalf("%d applications", len(c.Applications))
	}
}
