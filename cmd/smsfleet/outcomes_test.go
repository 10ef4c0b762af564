package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/signature"
)

// TestDevModeStatusCallbacks follows the README: a notification with a
// status_callback gets its SMS's outcome POSTed, signed with the dev
// callback secret (on dev's embedded Redis, which must support the
// outcomes stream).
func TestDevModeStatusCallbacks(t *testing.T) {
	base := startDev(t)
	got := make(chan outcomes.Event, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !signature.Valid("dev-callback-secret", body, r.Header.Get(outcomes.SignatureHeader)) {
			t.Errorf("callback signature %q does not verify", r.Header.Get(outcomes.SignatureHeader))
		}
		var e outcomes.Event
		_ = json.Unmarshal(body, &e)
		got <- e
	}))
	defer rcv.Close()
	body := `{"request":{"application":"DEMO0-00000","auth":"dev-token","notifications":[{"send_date":"now","content":"Hi","devices":["+4915112340009"],"use_auto_registration":true,"status_callback":"` + rcv.URL + `/cb"}]}}`
	resp, err := http.Post(base+"/json/1.3/createMessage", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), `"status_code":200`) {
		t.Fatalf("createMessage: %s", raw)
	}
	select {
	case e := <-got:
		if e.Status != "delivered" || e.Phone != "+4915112340009" || e.Application != "DEMO0-00000" {
			t.Fatalf("callback %+v", e)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no status callback from dev")
	}
}
