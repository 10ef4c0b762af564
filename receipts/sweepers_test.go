package receipts

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

func sweeperStore(t *testing.T) (*testenv.Redis, *store.Store) {
	t.Helper()
	r := testenv.NewRedis(t)
	st := store.New(r.Client(t), 24*time.Hour)
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r, st
}

// runFor runs c until cond holds (polled) or 10 s pass, then stops it and
// checks that it stopped cleanly.
func runFor(t *testing.T, c interface{ Run(context.Context) error }, cond func() bool) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			stop()
			t.Fatal("condition not met while the component ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run after stop: %v", err)
	}
}

// TestDeliveryWaitSweeperMovesEndedWaitsToUnknown: an SMS sent with a
// one-second delivery wait and no receipt becomes unknown once the
// component sweeps after the wait.
func TestDeliveryWaitSweeperMovesEndedWaitsToUnknown(t *testing.T) {
	_, st := sweeperStore(t)
	ctx := context.Background()
	code, to := "AAAA-00000000-000000DW", "+4915112000020"
	m := &store.Message{App: "SHOP1-00001", Code: code, Type: sms.Transactional, Content: `"x"`, SendAt: time.Now(), Validity: time.Hour, Direct: true, ChunkSize: 10, DeliveryWait: time.Second}
	if _, _, err := st.CreateMessage(ctx, m, []store.Audience{{Phones: []string{to}, SendAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	id := storetest.SMSID(t, st, code, to)
	l, _, _ := st.LoadSMS(ctx, id)
	if _, _, ok, err := st.Begin(ctx, id, l); !ok || err != nil {
		t.Fatalf("begin: %v %v", ok, err)
	}
	if _, err := st.MarkSent(ctx, id, store.Outcome{Provider: "tw", ProviderRef: "R-DW", Segments: 1}); err != nil {
		t.Fatal(err)
	}
	s := &DeliveryWaitSweeper{Store: st, Interval: 50 * time.Millisecond, Log: zap.NewNop()}
	if n, err := s.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep within the wait: moved %d, %v", n, err)
	}
	runFor(t, s, func() bool { return status(t, st, code)[sms.Unknown] == 1 })
	if got := status(t, st, code); got[sms.Sent] != 0 {
		t.Fatalf("counts %v, want the SMS unknown", got)
	}
}

// TestParkedSweeperDropsExpiredReceipts: a receipt parked for a reference
// no SMS was sent with is dropped once its window ends.
func TestParkedSweeperDropsExpiredReceipts(t *testing.T) {
	_, st := sweeperStore(t)
	ctx := context.Background()
	res, err := st.ApplyReceipts(ctx, []sms.Receipt{{Provider: "tw", Ref: "R-NOBODY", Status: sms.Delivered}}, time.Second)
	if err != nil || len(res) != 1 || res[0] != store.ReceiptUnknown {
		t.Fatalf("apply: %v %v, want the receipt parked", res, err)
	}
	s := &ParkedSweeper{Store: st, Interval: 50 * time.Millisecond, Log: zap.NewNop()}
	before := droppedCount(t)
	runFor(t, s, func() bool { return droppedCount(t) == before+1 })
	if n, err := s.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep: dropped %d, %v; want nothing left", n, err)
	}
}

// TestSweepersFailForTheSupervisor: with Redis gone, Run ends with the
// sweep's error instead of logging it forever.
func TestSweepersFailForTheSupervisor(t *testing.T) {
	r, st := sweeperStore(t)
	r.Stop()
	for _, c := range []interface {
		Name() string
		Run(context.Context) error
	}{
		&DeliveryWaitSweeper{Store: st, Interval: 10 * time.Millisecond, Log: zap.NewNop()},
		&ParkedSweeper{Store: st, Interval: 10 * time.Millisecond, Log: zap.NewNop()},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.Run(ctx); err == nil || ctx.Err() != nil {
			t.Errorf("%s with Redis gone: %v (ctx %v)", c.Name(), err, ctx.Err())
		}
		cancel()
	}
}

// droppedCount reads the dropped-receipts counter.
func droppedCount(t *testing.T) float64 {
	t.Helper()
	var m dto.Metric
	if err := metrics.ReceiptsDropped.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
