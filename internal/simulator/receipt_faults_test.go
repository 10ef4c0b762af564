package simulator_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/simulator"
)

// TestReceiptFaults: undelivered_rate makes the receipts of accepted SMS
// say undelivered (the provider takes SMS and stops delivering them), and
// the faults in force at acceptance decide; with it cleared, receipts say
// delivered again. receipt_delay_ms is validated above and adds to the
// simulator's own receipt delay (not timed here: no wall-clock thresholds).
func TestReceiptFaults(t *testing.T) {
	const secret = "the-fleets-simulator-secret"
	src := provider.Source{Name: "sim-a", Kind: provider.KindSimulator, Secret: secret}
	statuses := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec, _, err := src.Webhooks().ParseReceipt(src, r, body, time.Now())
		if err != nil {
			t.Errorf("receipt refused: %v", err)
		}
		statuses <- string(rec.Status)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	sim := simulator.New("sim-a", 0)
	sim.SendReceipts(time.Millisecond, secret)
	api := httptest.NewServer(sim.Handler())
	defer api.Close()
	tw := provider.NewSimulator("sim-a", api.URL+"/simulator", nil)
	tw.SetStatusCallback(hook.URL + "/webhooks/dlr/sim-a")
	send := func(i int) string {
		t.Helper()
		if _, err := tw.Send(context.Background(), provider.Request{ID: fmt.Sprintf("sms-%d", i), To: "+4915112000009", From: "Shop", Text: "hi"}); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-statuses:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no receipt")
			return ""
		}
	}
	if err := sim.SetFaults("sim-a", simulator.Faults{UndeliveredRate: 1, ReceiptDelayMS: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if got := send(i); got != "undelivered" {
			t.Fatalf("with undelivered_rate 1: receipt %q", got)
		}
	}
	if err := sim.SetFaults("sim-a", simulator.Faults{}); err != nil {
		t.Fatal(err)
	}
	if got := send(9); got != "delivered" {
		t.Fatalf("faults cleared: receipt %q", got)
	}
}
