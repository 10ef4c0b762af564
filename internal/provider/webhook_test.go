package provider_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/provider"
)

// TestReadWebhookStatus: a body over MaxWebhookBody is 413, not 400, and
// is not handed on.
func TestReadWebhookStatus(t *testing.T) {
	sources := map[string]provider.Source{"gw": {Name: "gw", Kind: "json", Secret: "s"}}
	tests := []struct {
		name, provider string
		size           int
		status         int
		body           string
	}{
		{"at the limit", "gw", provider.MaxWebhookBody, 0, ""},
		{"over the limit", "gw", provider.MaxWebhookBody + 1, 413, "body: larger than 65536 bytes\n"},
		{"500 KB", "gw", 500_000, 413, "body: larger than 65536 bytes\n"},
		{"unknown provider", "nope", 10, 404, "unknown provider nope\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/webhooks/inbound/"+tt.provider, strings.NewReader(strings.Repeat("x", tt.size)))
			r.SetPathValue("provider", tt.provider)
			w := httptest.NewRecorder()
			_, _, body, ok := provider.ReadWebhook(w, r, sources)
			if tt.status == 0 {
				if !ok || len(body) != tt.size {
					t.Fatalf("ok %v, %d bytes; want the %d bytes", ok, len(body), tt.size)
				}
				return
			}
			got, _ := io.ReadAll(w.Result().Body)
			if ok || body != nil || w.Code != tt.status || string(got) != tt.body {
				t.Fatalf("ok %v, HTTP %d %q; want HTTP %d %q", ok, w.Code, got, tt.status, tt.body)
			}
		})
	}
}
