package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/provider"
)

// costPrices are the test's price table: per segment, by provider and
// destination country.
var costPrices = map[string]map[string]string{
	"sim-a": {"DE": "0.0450", "*": "0.0700"},
	"sim-b": {"GB": "0.0380", "*": "0.0500"},
}

// micros reads a cost the API gives ("0.090000") in millionths.
func micros(t *testing.T, s string) int64 {
	t.Helper()
	var whole, frac int64
	if _, err := fmt.Sscanf(strings.Replace(s, ".", " ", 1), "%d %d", &whole, &frac); err != nil || len(s) < 8 || s[len(s)-7] != '.' {
		t.Fatalf("cost %q: not a decimal with six places", s)
	}
	return whole*1e6 + frac
}

// TestCostsAddUpExactly (issue 18, cost): a mixed send (German and
// British phones, one and two segments, GSM-7 and UCS-2) spread over two
// providers with different prices. Each SMS costs its segments times its
// provider's price to its country; each message's cost is the sum of its
// SMS's; the application's cost of the day is the sum of its messages';
// all exact, in integer millionths of the currency.
func TestCostsAddUpExactly(t *testing.T) {
	e := harness.New(t, func(c *config.Config, _ *fleet.Roles) {
		c.Providers = []provider.Config{{Name: "sim-a", Kind: provider.KindSimulator}, {Name: "sim-b", Kind: provider.KindSimulator}}
		c.DefaultRoute = config.Route{Providers: []string{"sim-a", "sim-b"}, Weights: map[string]int{"sim-a": 1, "sim-b": 1}}
		c.Prices = config.Prices{Currency: "EUR", Providers: costPrices}
	})
	table, err := e.Config.Prices.Table()
	if err != nil {
		t.Fatal(err)
	}
	de := harness.Phones(9100, 12)
	gb := []string{"+447400123401", "+447400123402", "+447400123403", "+447400123404", "+447400123405", "+447400123406"}
	all := append(append([]string{}, de...), gb...)
	e.Register(harness.ShopApp, harness.ShopToken, all...)
	codes := []string{
		e.Send(map[string]any{"send_date": "now", "content": "Sale today", "devices": all}),
		e.Send(map[string]any{"send_date": "now", "content": strings.Repeat("Long offer text. ", 12), "devices": all[6:]}),
		e.Send(map[string]any{"send_date": "now", "content": "Ihr Code: 4711 ✓", "devices": []string{de[0]}, "message_type": "otp"}),
	}
	var sumOfMessages int64
	providers := map[string]int{}
	for _, code := range codes {
		v := e.WaitCounts(code, map[string]int64{"sent": int64(e.Message(code).Message.Recipients)}, 30*time.Second)
		var sum int64
		for _, r := range v.Recipients {
			country := "DE"
			if strings.HasPrefix(r.To, "+44") {
				country = "GB"
			}
			price, ok := table.Of(r.Provider, country)
			if !ok {
				t.Fatalf("no price for %s to %s", r.Provider, country)
			}
			if got, want := micros(t, r.Cost), int64(price)*int64(r.Segments); got != want {
				t.Errorf("%s via %s to %s, %d segments: cost %s, want %s", r.ID, r.Provider, country, r.Segments, r.Cost, config.Micros(want))
			}
			sum += micros(t, r.Cost)
			providers[r.Provider]++
		}
		if got := micros(t, v.Message.Cost); got != sum || v.Message.Currency != "EUR" {
			t.Errorf("message %s: cost %s %s, want the sum of its SMS %s EUR", code, v.Message.Cost, v.Message.Currency, config.Micros(sum))
		}
		// Message History shows the same sum.
		if page := historyPage(t, e, "/history/messages/"+code); !strings.Contains(page, "<dt>Cost</dt><dd>"+v.Message.Cost+" EUR</dd>") {
			t.Errorf("message %s: its history page does not show its cost %s EUR", code, v.Message.Cost)
		}
		sumOfMessages += sum
	}
	if providers["sim-a"] == 0 || providers["sim-b"] == 0 {
		t.Fatalf("SMS per provider %v: the send did not mix providers", providers)
	}
	today := e.Clock.Now().UTC().Format(time.DateOnly)
	var costs struct {
		Currency string
		Total    string
		Days     []struct{ Day, Cost string }
	}
	if st := e.Native("/api/v1/costs?from="+today+"&to="+today, harness.ShopToken, &costs); st != http.StatusOK {
		t.Fatalf("costs: HTTP %d", st)
	}
	if len(costs.Days) != 1 || costs.Days[0].Day != today || micros(t, costs.Days[0].Cost) != sumOfMessages ||
		micros(t, costs.Total) != sumOfMessages || costs.Currency != "EUR" {
		t.Fatalf("costs of %s: %+v, want %s EUR", today, costs, config.Micros(sumOfMessages))
	}
	// Another application's day is its own.
	var other struct{ Total string }
	if st := e.Native("/api/v1/costs?from="+today+"&to="+today, harness.BankToken, &other); st != http.StatusOK || micros(t, other.Total) != 0 {
		t.Fatalf("the bank's costs: HTTP %d %+v, want 0", st, other)
	}
}

// TestCostsBadInput: each bad range is a 400 naming the parameter.
func TestCostsBadInput(t *testing.T) {
	e := harness.New(t, func(c *config.Config, _ *fleet.Roles) {
		c.Prices = config.Prices{Currency: "EUR", Providers: map[string]map[string]string{"simulator": {"*": "0.05"}}}
	})
	for _, tc := range []struct{ query, want string }{
		{"from=2026-13-01", "from:"},
		{"to=yesterday", "to:"},
		{"from=2026-12-02&to=2026-12-01", "from:"},
		{"from=2024-01-01&to=2026-12-01", "at most 400"},
	} {
		var out struct{ Error string }
		if st := e.Native("/api/v1/costs?"+tc.query, harness.ShopToken, &out); st != http.StatusBadRequest || !strings.Contains(out.Error, tc.want) {
			t.Errorf("%s: HTTP %d %q, want 400 naming %q", tc.query, st, out.Error, tc.want)
		}
	}
	if st := e.Native("/api/v1/costs", "wrong-token", &struct{}{}); st != http.StatusUnauthorized {
		t.Errorf("wrong token: HTTP %d, want 401", st)
	}
}

// historyPage GETs a Message History page with the shop's token.
func historyPage(t *testing.T, e *harness.Env, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.API.URL+path, nil)
	req.Header.Set("Authorization", "Token "+harness.ShopToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d %v", path, resp.StatusCode, err)
	}
	return string(b)
}
