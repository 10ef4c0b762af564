package intake

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestDeviceLimitIsA210NamingTheField: a registration past
// SMSFLEET_MAX_DEVICES_PER_APP is an argument error naming hwid, and a
// createMessage whose auto-registration would pass it names
// use_auto_registration and writes no message.
func TestDeviceLimitIsA210NamingTheField(t *testing.T) {
	r := testenv.NewRedis(t)
	st := store.New(r.Client(t), 24*time.Hour, store.WithClock(func() time.Time { return testNow }), store.WithDeviceLimit(1))
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := newAPIWith(st)
	ctx := context.Background()
	if _, err := a.registerDevice(ctx, shop, json.RawMessage(`{"hwid":"+4915112000001","device_type":18}`)); err != nil {
		t.Fatal(err)
	}
	_, err := a.registerDevice(ctx, shop, json.RawMessage(`{"hwid":"+4915112000002","device_type":18}`))
	var ae *apiError
	if !errors.As(err, &ae) || ae.HTTP != http.StatusOK || ae.Code != 210 || ae.Message != "hwid: the application has reached its device limit (SMSFLEET_MAX_DEVICES_PER_APP): unregister devices or ask for a higher limit" {
		t.Fatalf("registerDevice past the limit: %#v", err)
	}
	_, err = a.createMessage(ctx, shop, json.RawMessage(`{"notifications":[{"send_date":"now","content":"x","devices":["+4915112000003"],"use_auto_registration":true}]}`))
	if !errors.As(err, &ae) || ae.Code != 210 || ae.Message[:len("use_auto_registration:")] != "use_auto_registration:" {
		t.Fatalf("createMessage past the limit: %#v", err)
	}
	if msgs, _, err := st.ListMessages(ctx, shop, 10, 0); err != nil || len(msgs) != 0 {
		t.Fatalf("a message was written: %v %v", msgs, err)
	}
}
