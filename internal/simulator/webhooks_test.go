package simulator_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/simulator"
)

// TestSimulatorSignsItsWebhooksTheStandardWay (issue 13 items 5 and 6):
// the simulator's receipts and replies carry Standard Webhooks headers
// under the secret it was given, which the simulator provider kind
// verifies against the same clock; a retried receipt keeps its
// webhook-id (so the fleet takes it once); nothing is signed with the old
// built-in simulator-token.
func TestSimulatorSignsItsWebhooksTheStandardWay(t *testing.T) {
	const secret = "the-fleets-simulator-secret"
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	src := provider.Source{Name: "sim-a", Kind: provider.KindSimulator, Secret: secret}
	forged := provider.Source{Name: "sim-a", Kind: provider.KindSimulator, Secret: provider.SimulatorAuthToken}
	var mu sync.Mutex
	var ids []string
	var replies []provider.Reply
	got := make(chan struct{}, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/webhooks/inbound/sim-a" {
			rep, _, err := src.Webhooks().ParseReply(src, r, body, at)
			if err != nil {
				t.Errorf("reply refused: %v", err)
			}
			if _, _, err := forged.Webhooks().ParseReply(forged, r, body, at); err == nil {
				t.Error("reply verifies with simulator-token")
			}
			replies = append(replies, rep)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		rec, rp, err := src.Webhooks().ParseReceipt(src, r, body, at)
		if err != nil || rec.Status != "delivered" {
			t.Errorf("receipt refused: %+v %v", rec, err)
		}
		ids = append(ids, rp.ID)
		got <- struct{}{}
		if len(ids) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // make it retry
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()

	sim := simulator.New("sim-a", 0)
	sim.SetClock(func() time.Time { return at })
	sim.SendReceipts(time.Millisecond, secret)
	api := httptest.NewServer(sim.Handler())
	defer api.Close()
	tw := provider.NewSimulator("sim-a", api.URL+"/simulator", nil)
	tw.SetStatusCallback(hook.URL + "/webhooks/dlr/sim-a")
	if _, err := tw.Send(context.Background(), provider.Request{ID: "sms-1", To: "+4915112000009", From: "Shop", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("no receipt")
		}
	}
	status, err := sim.PostReply(context.Background(), hook.URL+"/webhooks/inbound/sim-a", "+4915112000009", "Shop", "STOP")
	if err != nil || status != http.StatusNoContent {
		t.Fatalf("PostReply: %d %v", status, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 2 || ids[0] == "" || ids[0] != ids[1] {
		t.Fatalf("receipt ids %q: want one id, the same on the retry", ids)
	}
	if len(replies) != 1 || replies[0] != (provider.Reply{From: "+4915112000009", To: "Shop", Text: "STOP"}) {
		t.Fatalf("replies %+v", replies)
	}
}
