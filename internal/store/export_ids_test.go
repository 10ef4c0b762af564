package store

import (
	"context"
	"testing"
)

// MustSMSID is the id s gives the SMS that message code sends to phone
// (Store.SMSIDOf), for tests of this package and of store_test.
func MustSMSID(t testing.TB, s *Store, code, phone string) string {
	t.Helper()
	id, err := s.SMSIDOf(context.Background(), code, phone)
	if err != nil {
		t.Fatalf("SMS id of %s to %s: %v", code, phone, err)
	}
	return id
}
