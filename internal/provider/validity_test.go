package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/provider"
)

func TestExpiry(t *testing.T) {
	t.Parallel()
	if got := provider.Expiry(time.Time{}, time.Now()); !got.IsZero() {
		t.Errorf("no deadline: %v, want zero", got)
	}
	// A fleet clock a day behind the real one: the same five minutes left.
	fleet := time.Now().Add(-24 * time.Hour)
	got := provider.Expiry(fleet.Add(5*time.Minute), fleet)
	if left := time.Until(got); left > 5*time.Minute || left < 4*time.Minute {
		t.Errorf("%s left on the real clock, want 5m", left)
	}
}

// TestTwilioValidityPeriod: what is left of the SMS's validity reaches a
// real HTTP server as ValidityPeriod, in whole seconds within Twilio's
// bounds (1 to 36,000); an SMS already expired is not sent.
func TestTwilioValidityPeriod(t *testing.T) {
	t.Parallel()
	forms := make(chan url.Values, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f, _ := url.ParseQuery(string(body))
		forms <- f
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"sid":"SM1"}`))
	}))
	defer srv.Close()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	c := provider.NewTwilio(provider.TwilioConfig{Name: "tw", BaseURL: srv.URL, AccountSID: "AC1", AuthToken: "t",
		Now: func() time.Time { return now }}, nil)
	for _, tc := range []struct {
		name    string
		expires time.Time
		want    string // ValidityPeriod; "" absent
		expired bool
	}{
		{"none", time.Time{}, "", false},
		{"five minutes", now.Add(5 * time.Minute), "300", false},
		{"rounded down", now.Add(90*time.Second + 900*time.Millisecond), "90", false},
		{"one second", now.Add(time.Second), "1", false},
		{"Twilio's maximum", now.Add(10 * time.Hour), "36000", false},
		{"beyond Twilio's maximum: left to Twilio", now.Add(10*time.Hour + time.Second), "", false},
		{"under a second left", now.Add(999 * time.Millisecond), "", true},
		{"passed", now.Add(-time.Minute), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Send(context.Background(), provider.Request{ID: "x", To: "+447911123456", Text: "123456", Expires: tc.expires})
			if tc.expired {
				var pe *provider.Error
				if !errors.As(err, &pe) || !errors.Is(err, provider.ErrExpired) || pe.Class != provider.Transient || pe.Ambiguous {
					t.Fatalf("error %v, want a transient, not ambiguous ErrExpired", err)
				}
				select {
				case f := <-forms:
					t.Fatalf("an expired SMS was sent: %v", f)
				default:
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f := <-forms
			if got, has := f.Get("ValidityPeriod"), f.Has("ValidityPeriod"); got != tc.want || has != (tc.want != "") {
				t.Errorf("ValidityPeriod %q (present %v), want %q", got, has, tc.want)
			}
		})
	}
}

// TestGenericValidity: the JSON kind's template gets ValiditySeconds and
// Expires, and an expired SMS is not sent.
func TestGenericValidity(t *testing.T) {
	t.Parallel()
	bodies := make(chan map[string]any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		bodies <- m
		_, _ = w.Write([]byte(`{"id":"r1"}`))
	}))
	defer srv.Close()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	g, err := provider.NewGeneric(provider.GenericConfig{Name: "gw", URL: srv.URL, Now: func() time.Time { return now },
		RequestTemplate: `{"to":{{json .To}},"text":{{json .Text}}{{if .ValiditySeconds}},"validity":{{.ValiditySeconds}},"expires":{{json .Expires}}{{end}}}`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Send(context.Background(), provider.Request{To: "+447911123456", Text: "hi", Expires: now.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if b := <-bodies; b["validity"] != float64(120) || b["expires"] != "2026-01-01T12:02:00Z" {
		t.Errorf("body %v, want validity 120 and expires", b)
	}
	if _, err := g.Send(context.Background(), provider.Request{To: "+447911123456", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if b := <-bodies; b["validity"] != nil {
		t.Errorf("body %v: a validity without a deadline", b)
	}
	_, err = g.Send(context.Background(), provider.Request{To: "+447911123456", Text: "hi", Expires: now})
	if !errors.Is(err, provider.ErrExpired) {
		t.Fatalf("expired: %v, want ErrExpired", err)
	}
	select {
	case b := <-bodies:
		t.Fatalf("an expired SMS was sent: %v", b)
	default:
	}
}
