package sms

import (
	"errors"
	"strings"
	"testing"
)

func testIDs(t *testing.T, key string) IDs {
	t.Helper()
	ids, err := NewIDs([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestIDsAreDeterministicPerKeyMessageAndPhone(t *testing.T) {
	const code, phone = "AAAA-00000000-00000000", "+4915112345678"
	k := testIDs(t, strings.Repeat("k", 32))
	id := func(k IDs, code, phone string) string {
		t.Helper()
		s, err := k.ID(code, phone, k.Scheme())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := id(k, code, phone)
	if a != id(testIDs(t, strings.Repeat("k", 32)), code, phone) {
		t.Fatal("same key, message and phone gave two ids")
	}
	for name, other := range map[string]string{
		"another phone":   id(k, code, "+4915112345679"),
		"another message": id(k, "BBBB-00000000-00000000", phone),
		"another key":     id(testIDs(t, strings.Repeat("K", 32)), code, phone),
		"the legacy id":   legacyID(code, phone),
	} {
		if other == a {
			t.Errorf("%s shares the id %s", name, a)
		}
	}
	if MessageCodeOf(a) != code || len(a) != len(code)+1+16 {
		t.Fatalf("id %q: want %s.<16 hex>", a, code)
	}
}

// TestLegacyIDsAreTheOldSHA256: a message created before keyed ids keeps
// the ids it was given (this vector is what SMSID returned then).
func TestLegacyIDsAreTheOldSHA256(t *testing.T) {
	const want = "AAAA-00000000-00000000.f8e051623d1ea7ff"
	for name, k := range map[string]IDs{"no key": {}, "keyed": testIDs(t, strings.Repeat("k", 32))} {
		got, err := k.ID("AAAA-00000000-00000000", "+4915112345678", LegacyIDs)
		if err != nil || got != want {
			t.Errorf("%s: legacy id %q, %v; want %s", name, got, err, want)
		}
	}
}

func TestIDsRefuseAnotherKeysScheme(t *testing.T) {
	a, b := testIDs(t, strings.Repeat("a", 32)), testIDs(t, strings.Repeat("b", 32))
	if a.Scheme() == b.Scheme() || !strings.HasPrefix(string(a.Scheme()), "h1:") {
		t.Fatalf("schemes %q and %q", a.Scheme(), b.Scheme())
	}
	for name, k := range map[string]IDs{"another key": b, "no key": {}} {
		if id, err := k.ID("AAAA-00000000-00000000", "+4915112345678", a.Scheme()); !errors.Is(err, ErrIDScheme) || id != "" {
			t.Errorf("%s: %q, %v; want ErrIDScheme", name, id, err)
		}
	}
}

func TestNewIDsNeedsA32ByteKey(t *testing.T) {
	if _, err := NewIDs([]byte(strings.Repeat("k", 31))); err == nil {
		t.Fatal("a 31-byte key was accepted")
	}
	key, err := NewIDKey()
	if err != nil || len(key) != 64 {
		t.Fatalf("NewIDKey: %q %v", key, err)
	}
	if _, err := NewIDs([]byte(key)); err != nil {
		t.Fatal(err)
	}
}
