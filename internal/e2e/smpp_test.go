package e2e_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/inbound"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/receipts"
)

// relativeValidity is SMPP 3.4's relative time form: 0000DDhhmmss000R.
var relativeValidity = regexp.MustCompile(`^0000(\d\d)(\d\d)(\d\d)(\d\d)000R$`)

// TestSMPPValidityAndHexDecimalReceipts runs an OTP through a fleet whose
// provider is an SMSC that answers submit_sm with hexadecimal ids (upper
// case, zero padded) and writes receipts in decimal, as some real ones do.
// With message_id_type hex-dec the receipt resolves and the SMS ends
// delivered (compared as text it matched nothing). The SMS's validity
// reaches the SMSC as validity_period, what the fleet's clock (set back
// most of a day) says is left: at most the OTP's 5 minutes.
func TestSMPPValidityAndHexDecimalReceipts(t *testing.T) {
	smsc := testenv.NewSMSC(t)
	smsc.ID = func(n int64) string { return fmt.Sprintf("%010X", 0xABC00+n) }
	smsc.Start()
	t.Setenv("E2E_SMSC_PASSWORD", testenv.SMSCPassword)
	smpp := provider.Config{Name: "smsc", Kind: provider.KindSMPP, Addr: smsc.Addr(), SystemID: testenv.SMSCSystemID,
		PasswordEnv: "E2E_SMSC_PASSWORD", MessageIDType: "hex-dec"}
	// The API from the harness; the worker built here from the
	// configuration, so the fleet makes the SMPP client and wires its
	// receipts as in production (the harness would send through the
	// simulator).
	e := harness.New(t, func(c *config.Config, r *fleet.Roles) {
		c.Providers = []provider.Config{smpp}
		r.Worker = false
	})
	harness.StartConfiguredWorker(t, e)

	e.Clock.Set(time.Now().Add(-20 * time.Hour))
	to := harness.Phones(4100, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, to)
	code := e.Send(map[string]any{"send_date": "now", "content": "Your code is 4711", "devices": []string{to}, "message_type": "otp"})
	sub := smsc.Next(t)
	m := relativeValidity.FindStringSubmatch(sub.ValidityPeriod)
	if m == nil {
		t.Fatalf("validity_period %q, want the relative form", sub.ValidityPeriod)
	}
	var left time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		n, _ := strconv.Atoi(m[i+1])
		left += time.Duration(n) * unit
	}
	if left <= 0 || left > 5*time.Minute {
		t.Fatalf("validity_period %q: %s left, want at most the OTP's 5 minutes", sub.ValidityPeriod, left)
	}
	v := e.WaitCounts(code, map[string]int64{"sent": 1}, 10*time.Second)
	hexID, _ := strconv.ParseUint(sub.ID, 16, 64)
	if ref := v.Recipients[0].ProviderRef; ref != strconv.FormatUint(hexID, 16) {
		t.Fatalf("provider_ref %q, want %s normalised (lower case, no leading zeros)", ref, sub.ID)
	}

	// The receipt names the id in decimal, zero padded.
	receipt := fmt.Sprintf("id:%012d sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:DELIVRD err:000 text:", hexID)
	smsc.Answered(t, smsc.Deliver(t, 0x04, 0, []byte(receipt), nil))
	e.WaitCounts(code, map[string]int64{"delivered": 1}, 10*time.Second)
}

// TestSMPPReplyOptsOutAndIsAnswered (issue 17): a STOP that reaches the
// fleet as an SMPP deliver_sm (MO) on the worker's SMSC connection works
// as a webhook reply does: it is answered ESME_ROK only once it is on the
// smsfleet.inbound topic; the receipts role applies it from there: the
// phone is opted out of the shop (the application sending from the number
// it replied to), the reply is kept and listed by GET /api/v1/inbound,
// POSTed (signed) to the shop's inbound callback, and the shop's STOP
// confirmation goes back to the phone through the SMSC; the next SMS to
// the phone is suppressed.
func TestSMPPReplyOptsOutAndIsAnswered(t *testing.T) {
	smsc := testenv.NewSMSC(t).Start()
	t.Setenv("E2E_SMSC_PASSWORD", testenv.SMSCPassword)
	smpp := provider.Config{Name: "smsc", Kind: provider.KindSMPP, Addr: smsc.Addr(), SystemID: testenv.SMSCSystemID, PasswordEnv: "E2E_SMSC_PASSWORD"}
	const confirmation = "You will get no more SMS from us. Reply START to undo."
	k := testenv.NewKafka(t, 3, receipts.Topic, receipts.TopicDLQ, outcomes.Topic, inbound.Topic, inbound.TopicDLQ)
	rcv := newInboundReceiver(t)
	e := harness.New(t, withReceiptsOn(k), func(c *config.Config, r *fleet.Roles) {
		c.Providers = []provider.Config{smpp}
		c.Callback.AllowPrivate = true // the receiver is on loopback
		for i := range c.Applications {
			if c.Applications[i].Code == harness.ShopApp {
				c.Applications[i].CallbackSecret, c.Applications[i].CallbackAllowHTTP = inboundSecret, true
				c.Applications[i].Inbound = &config.ApplicationInbound{CallbackURL: rcv.srv.URL + "/replies", StopConfirmation: confirmation}
			}
		}
		r.Worker = false
	})
	harness.StartConfiguredWorker(t, e)
	phone := harness.Phones(4200, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, phone)
	// A first SMS: the sender the phone will reply to, and the SMSC's
	// connection to deliver on.
	first := e.Send(map[string]any{"send_date": "now", "content": "Sale today", "devices": []string{phone}})
	sub := smsc.Next(t)
	e.WaitCounts(first, map[string]int64{"sent": 1}, 10*time.Second)

	// The phone answers STOP, as an SMSC delivers it: international TON,
	// the digits without "+", to the sender the SMS came from. The answer
	// comes once the reply is in Kafka.
	if st := smsc.Answered(t, smsc.DeliverMO(t, testenv.MO{SrcTON: 1, SrcNPI: 1, Src: phone[1:], Dst: sub.Src, SM: []byte("STOP")})); st != 0 {
		t.Fatalf("deliver_sm answered %#x, want ESME_ROK", st)
	}
	recs := readInbound(t, k, 1, 10*time.Second)
	if len(recs) != 1 || recs[0].Provider != "smsc" || recs[0].From != phone || recs[0].To != sub.Src || recs[0].Text != "STOP" {
		t.Fatalf("smsfleet.inbound records %+v, want the STOP from %s over smsc", recs, phone)
	}
	var replies []inboundItem
	harness.Eventually(t, 10*time.Second, func() bool {
		replies = listInbound(t, e, harness.ShopToken, "phone="+url.QueryEscape(phone))
		return len(replies) == 1
	}, func() string { return fmt.Sprintf("replies %+v, want the STOP", replies) })
	if r := replies[0]; r.Provider != "smsc" || r.From != phone || r.Text != "STOP" || r.Keyword != "stop" {
		t.Fatalf("reply %+v, want STOP from %s over smsc", r, phone)
	}
	// The shop's inbound callback gets it, signed with its secret.
	harness.Eventually(t, 10*time.Second, func() bool {
		evs, _ := rcv.from(phone)
		return len(evs) == 1
	}, func() string {
		evs, posts := rcv.from(phone)
		return fmt.Sprintf("callback events %+v (%d POSTs)", evs, posts)
	})
	if evs, _ := rcv.from(phone); evs[0].Text != "STOP" || evs[0].Provider != "smsc" || evs[0].Application != harness.ShopApp || evs[0].ID != recs[0].ID {
		t.Fatalf("callback event %+v, want the STOP %s for the shop", evs[0], recs[0].ID)
	}
	// The confirmation reaches the phone through the SMSC.
	if conf := smsc.Next(t); (conf.Dst != phone[1:] && conf.Dst != phone) || string(conf.SM) != confirmation {
		t.Fatalf("answer submit_sm to %q: %q, want the STOP confirmation to %s", conf.Dst, conf.SM, phone)
	}
	// The next SMS to the phone is suppressed: it opted out.
	next := e.Send(map[string]any{"send_date": "now", "content": "Sale tomorrow", "devices": []string{phone}})
	e.WaitCounts(next, map[string]int64{"suppressed": 1}, 10*time.Second)
}
