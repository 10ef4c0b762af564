package history

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
)

// TestRedactedMessageIsCountedWithoutItsText (issue 17): once a message
// to redact is settled, its page, the phone search and its export show
// "[redacted]" where the text was, and it is still counted (chart, counts,
// recipient, SMS timeline).
func TestRedactedMessageIsCountedWithoutItsText(t *testing.T) {
	w := newWorld(t, nil)
	ctx := context.Background()
	const code, secret = "RDCT-00000000-00000001", "Your code is 7777"
	at := w.clock.Now()
	m := &store.Message{App: shopApp, Code: code, Type: sms.OTP, Content: `"` + secret + `"`, SendAt: at, Validity: time.Hour, Direct: true,
		ChunkSize: 10, Redact: true}
	if _, _, err := w.st.CreateMessage(ctx, m, []store.Audience{{Zone: "UTC", SendAt: at, Phones: []string{phoneB}}}); err != nil {
		t.Fatal(err)
	}
	id := storetest.SMSID(t, w.st, code, phoneB)
	w.begin(id)
	if _, err := w.st.MarkSent(ctx, id, store.Outcome{Provider: "sim-a", ProviderRef: "RD1", Segments: 1, Encoding: "gsm7"}); err != nil {
		t.Fatal(err)
	}
	auth := "Token " + shopToken
	if r := w.do(req{path: "/history/messages/" + code, auth: auth}); !strings.Contains(r.body, secret) {
		t.Fatalf("sent, not settled: the page lacks the text:\n%.2000s", r.body)
	}
	if _, err := w.st.ApplyReceipt(ctx, "sim-a", "RD1", sms.Delivered, ""); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		has        []string
	}{
		{"message page", "/history/messages/" + code, []string{"[redacted]", "1 delivered", `<span class="st delivered">delivered</span>`, escaped(phoneB)}},
		{"SMS timeline", "/history/sms/" + id, []string{"[redacted]", "Receipt from sim-a: delivered", "gsm7"}},
		{"phone search", "/history/?phone=" + url.QueryEscape(phoneB), []string{code, "[redacted]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.do(req{path: tc.path, auth: auth})
			if strings.Contains(r.body, secret) {
				t.Errorf("GET %s still shows the text", tc.path)
			}
			for _, s := range tc.has {
				if !strings.Contains(r.body, s) {
					t.Errorf("GET %s lacks %q:\n%.4000s", tc.path, s, r.body)
				}
			}
		})
	}
}
