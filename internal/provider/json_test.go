package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/provider"
)

// jsonRecorder answers every request with status and body and keeps the
// last request's method, headers and body.
func jsonRecorder(t *testing.T, status int, answer string) (*httptest.Server, func() (*http.Request, []byte)) {
	var mu sync.Mutex
	var lastReq *http.Request
	var lastBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		lastReq, lastBody = r, b
		mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, func() (*http.Request, []byte) {
		mu.Lock()
		defer mu.Unlock()
		return lastReq, lastBody
	}
}

// awkward needs JSON escaping everywhere: quotes, a backslash, newlines, a
// tab, HTML characters, an emoji and a non-Latin script.
var awkward = provider.Request{
	ID:   `sms"1\x`,
	To:   "+447911123456",
	From: `Shop "B"`,
	Text: "Line \"one\"\nline two\t<b>&amp;</b> 🎉 Привет \\ end",
}

func TestGenericRendersJSON(t *testing.T) {
	tests := []struct {
		name     string
		template string
		// want maps a dot path in the sent body to the value expected there.
		want map[string]string
	}{
		{"default template", "", map[string]string{"id": awkward.ID, "to": awkward.To, "from": awkward.From, "text": awkward.Text}},
		{"nested custom template", `{"message": {"destination": {{json .To}}, "body": {{json .Text}}}, "sender": {{json .From}}, "ref": {{json .ID}}}`,
			map[string]string{"message.destination": awkward.To, "message.body": awkward.Text, "sender": awkward.From, "ref": awkward.ID}},
		{"template with literals and a list", `{"to": [{{json .To}}], "text": {{json .Text}}, "type": "sms"}`,
			map[string]string{"text": awkward.Text, "type": "sms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, last := jsonRecorder(t, 200, `{"id":"r1"}`)
			g, err := provider.NewGeneric(provider.GenericConfig{Name: "g", URL: srv.URL + "/send", RequestTemplate: tt.template}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.Send(context.Background(), awkward); err != nil {
				t.Fatal(err)
			}
			_, body := last()
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, body)
			}
			for path, want := range tt.want {
				var cur any = doc
				for _, k := range strings.Split(path, ".") {
					cur = cur.(map[string]any)[k]
				}
				if cur != want {
					t.Errorf("%s = %q, want %q", path, cur, want)
				}
			}
			// HTML characters go as they are, not as \u003c escapes.
			if !strings.Contains(string(body), "<b>&amp;</b>") {
				t.Errorf("HTML-escaped body: %s", body)
			}
		})
	}
}

func TestGenericRequestHeaders(t *testing.T) {
	tests := []struct {
		name       string
		cfg        provider.GenericConfig
		wantMethod string
		wantHeader string
		wantValue  string
	}{
		{"bearer token, default method", provider.GenericConfig{AuthHeader: "Authorization", AuthValue: "Bearer xyz"}, "POST", "Authorization", "Bearer xyz"},
		{"auth header defaults to Authorization", provider.GenericConfig{AuthValue: "Basic abc"}, "POST", "Authorization", "Basic abc"},
		{"custom header and method", provider.GenericConfig{Method: "put", AuthHeader: "X-API-Key", AuthValue: "k1"}, "PUT", "X-API-Key", "k1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, last := jsonRecorder(t, 202, `{"id":"r1"}`)
			cfg := tt.cfg
			cfg.Name, cfg.URL = "g", srv.URL
			g, err := provider.NewGeneric(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.Send(context.Background(), provider.Request{ID: "sms-7", To: "+1555", Text: "x"}); err != nil {
				t.Fatal(err)
			}
			r, _ := last()
			if r.Method != tt.wantMethod || r.Header.Get(tt.wantHeader) != tt.wantValue || r.Header.Get("Idempotency-Key") != "sms-7" ||
				r.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%s %v", r.Method, r.Header)
			}
			if strings.Contains(cfg.String()+g.String(), tt.wantValue) {
				t.Fatalf("the credential shows in %q", cfg.String())
			}
		})
	}
}

func TestGenericReference(t *testing.T) {
	tests := []struct {
		name     string
		refField string
		answer   string
		wantRef  string // "" wants a transient, ambiguous error
	}{
		{"default id", "", `{"id":"abc"}`, "abc"},
		{"nested", "data.message_id", `{"data":{"message_id":"m-42","status":"ok"}}`, "m-42"},
		{"deeply nested", "a.b.c", `{"a":{"b":{"c":"deep"}}}`, "deep"},
		{"numeric", "data.id", `{"data":{"id":12345678901234567890}}`, "12345678901234567890"},
		{"small number", "id", `{"id":7}`, "7"},
		{"missing", "data.message_id", `{"data":{"other":"x"}}`, ""},
		{"missing parent", "data.message_id", `{"status":"ok"}`, ""},
		{"parent not an object", "data.message_id", `{"data":"x"}`, ""},
		{"null", "id", `{"id":null}`, ""},
		{"empty string", "id", `{"id":""}`, ""},
		{"object instead of a value", "id", `{"id":{"x":1}}`, ""},
		{"not JSON", "id", `OK`, ""},
		{"empty body", "id", ``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := jsonRecorder(t, 200, tt.answer)
			g, err := provider.NewGeneric(provider.GenericConfig{Name: "g", URL: srv.URL, RefField: tt.refField}, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := g.Send(context.Background(), provider.Request{ID: "1", To: "+1555", Text: "x"})
			if tt.wantRef != "" {
				if err != nil || res.Ref != tt.wantRef || res.Provider != "g" {
					t.Fatalf("%+v %v, want ref %q", res, err, tt.wantRef)
				}
				return
			}
			if err == nil || provider.ClassOf(err) != provider.Transient || !provider.IsAmbiguous(err) {
				t.Fatalf("%+v %v, want a transient, ambiguous error", res, err)
			}
		})
	}
}

func TestGenericErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		answer      string
		wantClass   provider.Class
		wantCode    string
		wantMessage string
	}{
		{"bad request with error string", 400, `{"error":"invalid destination","code":"E21"}`, provider.Permanent, "E21", "invalid destination"},
		{"unprocessable with message and numeric code", 422, `{"message":"number blocked","code":1002}`, provider.Permanent, "1002", "number blocked"},
		{"nested error object", 400, `{"error":{"code":"bad_number","message":"not a phone"}}`, provider.Permanent, "bad_number", "not a phone"},
		{"throttled", 429, `{"error":"rate limit"}`, provider.Throttled, "", "rate limit"},
		{"unauthorized", 401, `{"error":"bad key"}`, provider.Transient, "", "bad key"},
		{"forbidden", 403, ``, provider.Transient, "", "HTTP 403"},
		{"request timeout", 408, ``, provider.Transient, "", "HTTP 408"},
		{"server error", 500, `{"error":"boom"}`, provider.Transient, "", "boom"},
		{"bad gateway, HTML", 502, `<html>nginx</html>`, provider.Transient, "", "HTTP 502"},
		{"not found", 404, `{"message":"no such route"}`, provider.Permanent, "", "no such route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := jsonRecorder(t, tt.status, tt.answer)
			g, err := provider.NewGeneric(provider.GenericConfig{Name: "g", URL: srv.URL, AuthValue: "Bearer " + secretToken}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = g.Send(context.Background(), provider.Request{ID: "1", To: "+1555", Text: "x"})
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("%v, want *provider.Error", err)
			}
			if pe.Class != tt.wantClass || pe.Code != tt.wantCode || pe.Ambiguous || !strings.Contains(pe.Message, tt.wantMessage) || pe.Provider != "g" {
				t.Fatalf("%v: class %s code %q ambiguous %v, want %s %q clean, message containing %q", err, pe.Class, pe.Code, pe.Ambiguous, tt.wantClass, tt.wantCode, tt.wantMessage)
			}
			if strings.Contains(err.Error(), secretToken) {
				t.Fatalf("credential in the error: %v", err)
			}
		})
	}
}

func TestGenericNetworkFailures(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client hang up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	tests := []struct {
		name          string
		url           string
		wantAmbiguous bool
	}{
		{"timeout after sending", slow.URL, true},
		{"connection refused", deadURL, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := provider.NewGeneric(provider.GenericConfig{Name: "g", URL: tt.url, Timeout: 100 * time.Millisecond}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = g.Send(context.Background(), provider.Request{ID: "1", To: "+1555", Text: "x"})
			if provider.ClassOf(err) != provider.Transient || provider.IsAmbiguous(err) != tt.wantAmbiguous {
				t.Fatalf("%v: ambiguous %v, want transient, ambiguous %v", err, provider.IsAmbiguous(err), tt.wantAmbiguous)
			}
		})
	}
}

func TestGenericBadConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     provider.GenericConfig
		wantErr []string
	}{
		{"template does not parse", provider.GenericConfig{Name: "acme", URL: "https://x.example", RequestTemplate: `{"to": {{json .To}`},
			[]string{"acme", "RequestTemplate"}},
		{"unknown field", provider.GenericConfig{Name: "acme", URL: "https://x.example", RequestTemplate: `{"to": {{json .Phone}}}`},
			[]string{"acme", "RequestTemplate", "Phone"}},
		{"unknown function", provider.GenericConfig{Name: "acme", URL: "https://x.example", RequestTemplate: `{"to": {{quote .To}}}`},
			[]string{"acme", "RequestTemplate", "quote"}},
		{"value without json", provider.GenericConfig{Name: "acme", URL: "https://x.example", RequestTemplate: `{"text": "{{.Text}}"}`},
			[]string{"acme", "RequestTemplate", "invalid JSON"}},
		{"no name", provider.GenericConfig{URL: "https://x.example"}, []string{"Name"}},
		{"no URL", provider.GenericConfig{Name: "acme"}, []string{"acme", "URL"}},
		{"relative URL", provider.GenericConfig{Name: "acme", URL: "/send"}, []string{"acme", "URL"}},
		{"empty RefField segment", provider.GenericConfig{Name: "acme", URL: "https://x.example", RefField: "data..id"}, []string{"acme", "RefField"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := provider.NewGeneric(tt.cfg, nil)
			if err == nil {
				t.Fatalf("accepted: %v", g)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
