package worker

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/provider"
)

// TestDeliverPassesTheValidity: the SMS's deadline, judged on the
// worker's clock (fixed at t0, months from the real one), reaches the
// provider as what is left of it: a real Twilio-style server reads
// ValidityPeriod.
func TestDeliverPassesTheValidity(t *testing.T) {
	periods := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		periods <- form.Get("ValidityPeriod")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"sid":"SM1"}`)
	}))
	defer srv.Close()
	f := newFixture(t, provider.NewTwilio(provider.TwilioConfig{Name: "a", BaseURL: srv.URL, AccountSID: "AC1", AuthToken: "t"}, nil))
	const phone = "+4915112000041"
	id := f.create(msg{sender: "Shop", validity: 10 * time.Minute}, phone)
	if it := f.delivered(id, phone); it.sent.err != nil {
		t.Fatalf("not sent: %v", it.sent.err)
	}
	got, err := strconv.Atoi(<-periods)
	// Read on the provider's (real) clock a moment after the worker read
	// its own, rounded down: at most the 600 s, and some left. Passed
	// untranslated, t0's deadline would be months gone and nothing sent.
	if err != nil || got > 600 || got < 1 {
		t.Fatalf("ValidityPeriod %d (%v), want the 600 s left", got, err)
	}
}
