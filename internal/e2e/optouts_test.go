package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/simulator"
)

// optOutItem is one phone of GET /api/v1/optouts.
type optOutItem struct {
	Phone   string
	Records []struct {
		Scope, Sender, Provider string
		SetBy                   string `json:"set_by"`
	}
}

// TestOptOutsStayWithinTheirApplication (issue 13, item 7), through the
// fleet's real webhook, API and worker: the shop sends from the default
// sender (smsfleet), the bank from BANK. A STOP to the shop's sender opts
// the phone out of the shop only; a START to a number no application
// sends from does not undo it and, like a STOP to such a number, changes
// nothing and is kept as unmatched; the API cannot undo the phone's STOP
// (409) but can undo its own opt-out; the worker suppresses the shop's
// SMS from the sender the phone stopped, not those from another sender;
// the phone's START to the shop's sender opts it back in.
func TestOptOutsStayWithinTheirApplication(t *testing.T) {
	e := harness.New(t, withReceipts(t), func(c *config.Config, _ *fleet.Roles) {
		for i := range c.Applications {
			if c.Applications[i].Code == harness.BankApp {
				c.Applications[i].Policy.Sender = "BANK"
			}
		}
	})
	phones := harness.Phones(7000, 2)
	p, q := phones[0], phones[1]
	e.Register(harness.ShopApp, harness.ShopToken, p)
	const unrelated = "+4930123456"
	replies := 0                      // each reply is a new webhook (its own webhook-id)
	applied := waitReplyApplied(t, e) // replies land in Kafka first (inbound_test.go)
	reply := func(from, to, text string) {
		t.Helper()
		body := `{"from":"` + from + `","to":"` + to + `","text":"` + text + `"}`
		req, _ := http.NewRequest(http.MethodPost, e.API.URL+"/webhooks/inbound/simulator", strings.NewReader(body))
		replies++
		if err := simulator.SignWebhook(req.Header, e.Config.SimulatorSecret, fmt.Sprintf("reply-%d", replies), e.Clock.Now(), []byte(body)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("reply %s to %s: HTTP %d", text, to, resp.StatusCode)
		}
		applied()
	}
	optedOut := func(token, phone string) *optOutItem {
		t.Helper()
		var list struct{ Optouts []optOutItem }
		if st := e.Native("/api/v1/optouts", token, &list); st != http.StatusOK {
			t.Fatalf("GET /api/v1/optouts: HTTP %d", st)
		}
		for i := range list.Optouts {
			if list.Optouts[i].Phone == phone {
				return &list.Optouts[i]
			}
		}
		return nil
	}
	unmatched := func() int64 {
		return e.Fleet.Store().Redis().XLen(context.Background(), "sf:ibu").Val()
	}
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, e.API.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Token "+harness.ShopToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// Each check says what went wrong and the test goes on (Errorf), so a
	// run shows every broken guarantee at once.
	reply(p, "smsfleet", "STOP")
	if o := optedOut(harness.BankToken, p); o != nil {
		t.Errorf("a STOP to the shop's sender opted the phone out of the bank: %+v", o)
	}
	o := optedOut(harness.ShopToken, p)
	if o == nil || len(o.Records) != 1 || o.Records[0].SetBy != "phone" || o.Records[0].Scope != "sender" ||
		o.Records[0].Sender != "SMSFLEET" || o.Records[0].Provider != "simulator" {
		t.Errorf("after STOP to the shop's sender, the shop's opt-out: %+v, want one record set by the phone for sender SMSFLEET through simulator", o)
	}

	reply(p, unrelated, "START")
	if o := optedOut(harness.ShopToken, p); o == nil {
		t.Error("a START to an unrelated number undid the STOP to the shop's sender")
	}
	reply(q, unrelated, "STOP")
	for _, token := range []string{harness.ShopToken, harness.BankToken, harness.OpenToken} {
		if o := optedOut(token, q); o != nil {
			t.Errorf("a STOP to a number no application sends from opted the phone out: %+v", o)
		}
	}
	if n := unmatched(); n != 2 {
		t.Errorf("%d replies kept as unmatched, want 2", n)
	}

	if st, body := call(http.MethodDelete, "/api/v1/optouts/"+url.PathEscape(p), ""); st != http.StatusConflict || !strings.Contains(body, "only the phone can undo it") {
		t.Errorf("API DELETE of the phone's STOP: HTTP %d %s, want 409 saying only the phone can undo it", st, body)
	}
	if o := optedOut(harness.ShopToken, p); o == nil {
		t.Error("the DELETE of the phone's STOP removed it")
	}

	// The worker: the shop's SMS from the stopped sender is suppressed,
	// one from another sender goes. The phone is opted out again first in
	// case the DELETE above wrongly removed it, so this checks the worker.
	reply(p, "smsfleet", "STOP")
	code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": []string{p}})
	if v := e.WaitCounts(code, map[string]int64{"suppressed": 1}, 10*time.Second); v.Recipients[0].Reason != "opted_out" {
		t.Errorf("SMS from the stopped sender: %+v", v.Recipients[0])
	}
	code = e.Send(map[string]any{"send_date": "now", "content": "x", "devices": []string{p}, "sender": "OTHER"})
	var v harness.MessageView
	harness.Poll(10*time.Second, 50*time.Millisecond, func() bool {
		v = e.Message(code)
		return v.Message.Counts["sent"]+v.Message.Counts["delivered"]+v.Message.Counts["suppressed"] == 1
	})
	if v.Message.Counts["sent"]+v.Message.Counts["delivered"] != 1 {
		t.Errorf("SMS from another sender: counts %v, want it sent", harness.NonZero(v.Message.Counts))
	}

	if st, body := call(http.MethodPost, "/api/v1/optouts", `{"phone":"`+q+`"}`); st != http.StatusCreated {
		t.Fatalf("API opt-out: HTTP %d %s", st, body)
	}
	if o := optedOut(harness.ShopToken, q); o == nil || len(o.Records) != 1 || o.Records[0].SetBy != "api" || o.Records[0].Scope != "application" {
		t.Fatalf("the API's opt-out: %+v", o)
	}
	if st, body := call(http.MethodDelete, "/api/v1/optouts/"+url.PathEscape(q), ""); st != http.StatusOK {
		t.Fatalf("API DELETE of its own opt-out: HTTP %d %s", st, body)
	}
	if o := optedOut(harness.ShopToken, q); o != nil {
		t.Fatalf("after DELETE: %+v", o)
	}

	reply(p, "smsfleet", "start")
	if o := optedOut(harness.ShopToken, p); o != nil {
		t.Fatalf("the phone's START to the shop's sender left %+v", o)
	}
	var raw json.RawMessage
	e.Native("/api/v1/optouts", harness.ShopToken, &raw)
	if !strings.Contains(string(raw), `"optouts":[]`) {
		t.Fatalf("opt-outs at the end: %s", raw)
	}
}
