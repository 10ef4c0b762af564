package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/store"
)

// chromium returns the headless browser the UI tests drive: Debian's
// chromium (apt-get install -y chromium). Without it the test is skipped,
// except in CI (CI is set), which installs it: as cmd/smsfleet's monitor test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; CI must install it (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium): skipping the Message History browser test")
	return ""
}

// TestHistoryInBrowser walks the Message History (issue 16) in headless
// Chromium against a whole fleet: a message to four phones goes out
// (one delivered, one delivered after a failed first attempt, one
// undelivered, one refused by the provider), then a person signs in
// (after a wrong token, 401), sees the message with its text and chart,
// opens a recipient's timeline, searches its phone, exports CSV, is
// refused another application's message (404) and, in a tab sending a
// wrong token, everything (401). Every request the pages make stays on the
// fleet. Screenshots go to SMSFLEET_SCREENSHOT_DIR (docs/ holds the
// committed ones: history-*.png).
//
// The per-phone index is written here with store.IndexPhones: the intake
// does not write it yet (the lead wires it into message creation).
func TestHistoryInBrowser(t *testing.T) {
	chrome := chromium(t)
	e := harness.New(t, withReceipts(t))
	e.Sim.SendReceipts(20*time.Millisecond, e.Config.SimulatorSecret)
	// The simulator's test numbers, by their last four digits: 0005
	// delivered, 0004 a 503 first then delivered, 0002 undelivered, 0001
	// refused (400).
	const delivered, retried, undelivered, refused = "+4915112340005", "+4915112340004", "+4915112340002", "+4915112340001"
	phones := []string{delivered, retried, undelivered, refused}
	e.Register(harness.ShopApp, harness.ShopToken, phones...)
	code := e.Send(map[string]any{"send_date": "now", "devices": phones,
		"content": map[string]string{"en": "Your order has shipped", "de": "Ihre Bestellung ist unterwegs"}})
	// A hang guard, not an expectation: the fleet settles in its own time.
	v := e.WaitCounts(code, map[string]int64{"delivered": 2, "undelivered": 1, "failed": 1}, 2*time.Minute)
	var entries []store.PhoneEntry
	var retriedID string
	for _, r := range v.Recipients {
		entries = append(entries, store.PhoneEntry{Phone: r.To, ID: r.ID, At: e.Clock.Now()})
		if r.To == retried {
			retriedID = r.ID
		}
	}
	ctx := context.Background()
	if err := e.Fleet.Store().IndexPhones(ctx, harness.ShopApp, entries); err != nil {
		t.Fatal(err)
	}
	// The bank's message: the shop must not see it.
	e.Register(harness.BankApp, harness.BankToken, "+4915112340006")
	raw := e.MustOK("createMessage", map[string]any{"application": harness.BankApp, "auth": harness.BankToken,
		"notifications": []any{map[string]any{"send_date": "now", "content": "Bank secret", "devices": []string{"+4915112340006"}}}})
	var bank struct{ Messages []string }
	if err := json.Unmarshal(raw, &bank); err != nil || len(bank.Messages) != 1 {
		t.Fatalf("bank's createMessage: %s %v", raw, err)
	}
	base := e.API.URL

	guard := 5 * time.Minute
	if dl, ok := t.Deadline(); ok {
		guard = min(guard, time.Until(dl)-30*time.Second)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.WSURLReadTimeout(guard),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	tab, cancel := context.WithTimeout(browserCtx, guard)
	defer cancel()
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`true`)); err != nil {
		t.Fatalf("start chromium (hang guard %s): %v", guard, err)
	}
	// Every URL the pages ask for: all must be the fleet's.
	var mu sync.Mutex
	var requested []string
	if err := chromedp.Listen(tab, func(ev any) {
		if r, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, r.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tab, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}

	dir := os.Getenv("SMSFLEET_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", path, len(png))
	}
	text := func() string {
		t.Helper()
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// step runs actions that load a page and checks its status and text.
	step := func(what string, want int, has []string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		r, err := chromedp.RunResponse(tab, actions...)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		page := text()
		if r.Status != int64(want) {
			t.Fatalf("%s: HTTP %d, want %d\n%s", what, r.Status, want, page)
		}
		for _, s := range has {
			if !strings.Contains(page, s) {
				t.Fatalf("%s: the page lacks %q:\n%s", what, s, page)
			}
		}
	}
	typeInto := func(sel, value string) chromedp.Action[chromedp.Void] {
		clear := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(() => { document.querySelector(`+jsString(sel)+`).value = ""; return true; })()`)(ctx, tg)
			return err
		})
		return chromedp.Steps(clear, chromedp.SendKeys(chromedp.CSS(sel), value))
	}

	step("open the history", http.StatusOK, []string{"Sign in", "Server token"}, chromedp.Navigate(base+"/history/"))
	shot("history-signin.png")
	step("sign in with a wrong token", http.StatusUnauthorized, []string{"not the server token of any application"},
		typeInto("#token", "not-a-token"), chromedp.Click(chromedp.CSS("form.signin button")))
	step("sign in", http.StatusOK, []string{"Messages", "Your order has shipped", harness.ShopApp, "50 %"},
		typeInto("#token", harness.ShopToken), chromedp.Click(chromedp.CSS("form.signin button")))
	if strings.Contains(text(), "Bank secret") {
		t.Fatal("the shop's list shows the bank's message")
	}
	shot("history-messages.png")

	step("open the message", http.StatusOK, []string{"Your order has shipped", "Ihre Bestellung ist unterwegs", "Per hour (UTC)",
		retried, undelivered, "receipt error 30003", "delivered", "failed"},
		chromedp.Click(chromedp.CSS(`a[href="/history/messages/`+code+`"]`)))
	bars, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll('svg rect').length`))
	if err != nil || bars < 2 {
		t.Fatalf("the chart has %d bars (%v), want sent and delivered at least", bars, err)
	}
	shot("history-message.png")

	step("open a recipient's timeline", http.StatusOK, []string{"Timeline", "Attempt via simulator: transient", "Sent via simulator",
		"Receipt from simulator: delivered", "Outcome event: delivered"},
		chromedp.Click(chromedp.CSS(`a[href="/history/sms/`+retriedID+`"]`)))
	shot("history-sms.png")

	step("search the phone", http.StatusOK, []string{"SMS to " + retried, code, "delivered"},
		typeInto("#q-phone", "+49 151 1234 0004"), chromedp.Click(chromedp.CSS(`form[role="search"] button`)))
	shot("history-phone.png")

	// Export: click the download links, as a person does, and read what
	// Chromium saved (named by the download's id).
	downloads := t.TempDir()
	on := true
	if _, err := chromedp.CallBrowser(tab, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &on}); err != nil {
		t.Fatal(err)
	}
	type download struct{ guid, name string }
	began, completed := make(chan download, 8), make(chan string, 8)
	if err := chromedp.ListenBrowser(tab, func(ev any) {
		switch ev := ev.(type) {
		case *browser.EventDownloadWillBegin:
			began <- download{ev.GUID, ev.SuggestedFilename}
		case *browser.EventDownloadProgress:
			if ev.State == browser.DownloadProgressStateCompleted {
				completed <- ev.GUID
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	export := func(link string) (name, body string) {
		t.Helper()
		if _, err := chromedp.Run(tab, chromedp.Click(chromedp.CSS(link))); err != nil {
			t.Fatalf("click %s: %v", link, err)
		}
		var d download
		select {
		case d = <-began:
		case <-tab.Done():
			t.Fatalf("no download from %s", link)
		}
		select {
		case guid := <-completed:
			if guid != d.guid {
				t.Fatalf("download %s completed, want %s", guid, d.guid)
			}
		case <-tab.Done():
			t.Fatalf("the download from %s did not complete", link)
		}
		b, err := os.ReadFile(filepath.Join(downloads, d.guid))
		if err != nil {
			t.Fatal(err)
		}
		return d.name, string(b)
	}
	name, csv := export(`a[href^="/history/export/phone.csv"]`)
	if name != "phone-4915112340004.csv" || !strings.HasPrefix(csv, "date,message,type,sms_id,phone,status,reason,provider,text\r\n") ||
		!strings.Contains(csv, code+",transactional,"+retriedID+",'"+retried+",delivered") {
		t.Fatalf("the phone's CSV (%s):\n%s", name, csv)
	}
	step("back to the message", http.StatusOK, []string{"Your order has shipped"}, chromedp.Navigate(base+"/history/messages/"+code))
	name, csv = export(`a[href$="/recipients.csv"]`)
	if lines := strings.Split(strings.TrimSpace(csv), "\r\n"); name != "message-"+code+"-recipients.csv" || len(lines) != 5 || !strings.Contains(csv, "'"+refused+",failed") {
		t.Fatalf("the message's CSV (%s; a header and 4 recipients):\n%s", name, csv)
	}

	step("another application's message", http.StatusNotFound, []string{"no message"}, chromedp.Navigate(base+"/history/messages/"+bank.Messages[0]))

	// On a phone's screen: the message page fits its width.
	if _, err := chromedp.Call(tab, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 390, Height: 844, DeviceScaleFactor: 2, Mobile: true}); err != nil {
		t.Fatal(err)
	}
	step("the message on a phone", http.StatusOK, []string{"Your order has shipped"}, chromedp.Navigate(base+"/history/messages/"+code))
	if fits, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`)); err != nil || !fits {
		t.Errorf("the message page is wider than a phone's screen (%v)", err)
	}
	shot("history-message-phone.png")

	// A script's wrong token, in a tab of its own: 401.
	wrong, cancelWrong := chromedp.NewContext(tab)
	defer cancelWrong()
	if _, err := chromedp.Call(wrong, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(wrong, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Token wrong"}}); err != nil {
		t.Fatal(err)
	}
	r, err := chromedp.Run(wrong, chromedp.NavigateResponse(base+"/history/messages/"+code))
	if err != nil || r.Status != http.StatusUnauthorized {
		t.Fatalf("a wrong token in the header: %v %+v", err, r)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, u := range requested {
		// data: URLs are Chromium's own (the date input's calendar icon):
		// nothing leaves the machine for them.
		if !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("a page fetched %s: nothing may come from outside the fleet", u)
		}
	}
	t.Logf("%d requests, all to the fleet", len(requested))
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
