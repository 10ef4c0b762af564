// Package storetest holds test helpers over the store that several
// packages' tests share.
package storetest

import (
	"context"
	"testing"

	"github.com/smsfleet/smsfleet/internal/store"
)

// SMSID is the id st gives the SMS that message code sends to phone: keyed
// with the fleet's id key, in the message's id scheme.
func SMSID(t testing.TB, st *store.Store, code, phone string) string {
	t.Helper()
	id, err := st.SMSIDOf(context.Background(), code, phone)
	if err != nil {
		t.Fatalf("SMS id of %s: %v", code, err)
	}
	return id
}
