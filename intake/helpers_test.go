package intake

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// Applications of the unit tests: shop signs callbacks, bank cannot.
const (
	shop      = "SHOP1-00001"
	shopToken = "shop-server"
	shopDev   = "shop-device"
	bank      = "BANK1-00002"
	bankToken = "bank-server"
	open      = "OPEN1-00003"
	openToken = "open-server"
)

// testNow is the intake clock of every unit test.
var testNow = time.Date(2026, 11, 24, 12, 0, 30, 0, time.UTC)

// defaults is the fleet-wide policy every test application resolves to.
func defaults() config.Resolved {
	return config.Config{Defaults: config.Default().Defaults}.PolicyOf(shop)
}

// newTestAPI builds an API on a store over a fresh redis-server: only the
// store's lookups (devices, presets) are used by validation.
func newTestAPI(t *testing.T) *API {
	t.Helper()
	r := testenv.NewRedis(t)
	st := store.New(r.Client(t), 24*time.Hour, store.WithClock(func() time.Time { return testNow }))
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	return newAPIWith(st)
}

// newAPIWith builds the test API around st (nil for no store at all).
func newAPIWith(st *store.Store) *API {
	return NewAPI(Options{
		Store: st,
		Apps: config.Applications{
			{Code: shop, ServerToken: shopToken, DeviceToken: shopDev},
			{Code: bank, ServerToken: bankToken},
			{Code: open, ServerToken: openToken, OpenDevices: true},
		},
		MaxBodyBytes: 1 << 10, MaxRecipients: 5, DefaultRegion: "DE", ChunkSize: 2,
		Policy:       func(string) config.Resolved { return defaults() },
		DeliveryWait: time.Hour,
		CallbackSecret: func(app string) string {
			if app == shop {
				return "shop-secret"
			}
			return ""
		},
		Logger: zap.NewNop(),
		Now:    func() time.Time { return testNow },
	})
}

// wantErr fails unless err is an *apiError with the HTTP status, status
// code and message given (a 210 is HTTP 200 with code 210).
func wantErr(t *testing.T, err error, http, code int, msg string) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T), want an apiError %d/%d %q", err, err, http, code, msg)
	}
	if ae.HTTP != http || ae.Code != code || ae.Message != msg {
		t.Fatalf("error %d/%d %q\nwant      %d/%d %q", ae.HTTP, ae.Code, ae.Message, http, code, msg)
	}
}

// wantArg fails unless err is a 210 with exactly msg ("" for no error).
func wantArg(t *testing.T, err error, msg string) {
	t.Helper()
	if msg == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	wantErr(t, err, 200, codeArgument, msg)
}

func ptr[T any](v T) *T { return &v }
