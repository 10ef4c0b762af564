package history

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/store"
)

// TestSentText: the variant of a content for a device language, by the
// worker's rule (the language, its base, default, en, the first).
func TestSentText(t *testing.T) {
	for _, tc := range []struct{ content, lang, want string }{
		{`"Hi"`, "de", "Hi"},
		{`{"en":"Sale now","de":"Jetzt Rabatt"}`, "de", "Jetzt Rabatt"},
		{`{"en":"Sale now","de":"Jetzt Rabatt"}`, "de-AT", "Jetzt Rabatt"},
		{`{"en":"Sale now","de":"Jetzt Rabatt"}`, "fr", "Sale now"},
		{`{"en":"Sale now","de":"Jetzt Rabatt"}`, "", "Sale now"},
		{`{"fr":"Soldes","default":"Sale","de":"Rabatt"}`, "es", "Sale"},
		{`{"fr":"Soldes","es":"Rebajas"}`, "it", "Soldes"},
	} {
		if got := sentText(tc.content, tc.lang); got != tc.want {
			t.Errorf("sentText(%s, %q) = %q, want %q", tc.content, tc.lang, got, tc.want)
		}
	}
}

// TestPhoneCSVShowsEachSMSsOwnText: the phone export's text column is the
// variant each SMS went out in, for the phone's device language: the
// German text of the two-language marketing message for a device in
// de-AT (it showed the English, the message's first, before), the one
// text of a single-language message unchanged.
func TestPhoneCSVShowsEachSMSsOwnText(t *testing.T) {
	w := newWorld(t, nil)
	if _, err := w.st.RegisterDevice(context.Background(), shopApp, store.Device{Phone: phoneA, Language: "de-AT"}); err != nil {
		t.Fatal(err)
	}
	r := w.do(req{path: "/history/export/phone.csv?phone=" + url.QueryEscape(phoneA), auth: "Token " + shopToken})
	if r.Code != http.StatusOK {
		t.Fatalf("export: %d %.300s", r.Code, r.body)
	}
	rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{}
	for _, row := range rows[1:] {
		texts[row[1]] = row[8]
	}
	for code, want := range map[string]string{codeFailed: "Jetzt Rabatt", codeDelivered: "Your code is 1234", codeScheduled: "See you tomorrow"} {
		if texts[code] != want {
			t.Errorf("%s: text %q, want %q (rows %q)", code, texts[code], want, rows)
		}
	}
}
