package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/smsfleet/smsfleet/internal/store"
)

// TestDeviceLimitBoundsAnApplicationsDevices: devices do not expire, so
// SMSFLEET_MAX_DEVICES_PER_APP is what bounds them. A new device past the
// limit is refused and nothing of it is written; a device already
// registered may still be updated; a bulk auto-registration that would
// pass the limit is refused whole; another application is not affected.
func TestDeviceLimitBoundsAnApplicationsDevices(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, store.WithDeviceLimit(2))
	const app, other = "SHOP1-00001", "BANK1-00001"
	for _, ph := range []string{"+4915112000001", "+4915112000002"} {
		if _, err := s.RegisterDevice(ctx, app, store.Device{Phone: ph}); err != nil {
			t.Fatalf("register %s: %v", ph, err)
		}
	}
	if _, err := s.RegisterDevice(ctx, app, store.Device{Phone: "+4915112000003"}); !errors.Is(err, store.ErrDeviceLimit) {
		t.Fatalf("third device: %v, want ErrDeviceLimit", err)
	}
	if _, err := s.GetDevice(ctx, app, "+4915112000003"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused device was written: %v", err)
	}
	if _, err := s.RegisterDevice(ctx, app, store.Device{Phone: "+4915112000002", UserID: "u2", Language: "de"}); err != nil {
		t.Fatalf("updating a registered device at the limit: %v", err)
	}
	if d, err := s.GetDevice(ctx, app, "+4915112000002"); err != nil || d.UserID != "u2" || d.Language != "de" {
		t.Fatalf("update not written: %+v %v", d, err)
	}
	// Bulk: one known and one new phone would take the app to 3.
	err := s.RegisterDevices(ctx, app, []string{"+4915112000001", "+4915112000004"})
	if !errors.Is(err, store.ErrDeviceLimit) {
		t.Fatalf("bulk past the limit: %v, want ErrDeviceLimit", err)
	}
	known, err := s.KnownPhones(ctx, app, []string{"+4915112000004"})
	if err != nil || known[0] {
		t.Fatalf("the refused bulk registration was written: %v %v", known, err)
	}
	if err := s.RegisterDevices(ctx, app, []string{"+4915112000001", "+4915112000002"}); err != nil {
		t.Fatalf("bulk of registered devices at the limit: %v", err)
	}
	if err := s.RegisterDevices(ctx, other, []string{"+4915112000001", "+4915112000002"}); err != nil {
		t.Fatalf("another application: %v", err)
	}
	// Unregistering makes room again.
	if _, err := s.UnregisterDevice(ctx, app, "+4915112000001"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RegisterDevice(ctx, app, store.Device{Phone: "+4915112000003"}); err != nil {
		t.Fatalf("after an unregistration: %v", err)
	}
}
