package signature

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The Standard Webhooks specification's published example (spec/
// standard-webhooks.md, "Signature scheme"): secret, id, timestamp and
// payload, and the signature every implementation must produce.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specPayload   = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func specHeaders() http.Header {
	h := http.Header{}
	h.Set(HeaderID, specID)
	h.Set(HeaderTimestamp, strconv.Itoa(specTimestamp))
	h.Set(HeaderSignature, specSignature)
	return h
}

func TestSignStandardMatchesTheSpecVector(t *testing.T) {
	got, err := SignStandard(specSecret, specID, time.Unix(specTimestamp, 0), []byte(specPayload))
	if err != nil || got != specSignature {
		t.Fatalf("SignStandard = %q, %v; want %q", got, err, specSignature)
	}
}

func TestVerifyStandard(t *testing.T) {
	at := time.Unix(specTimestamp, 0)
	tests := []struct {
		name    string
		secret  string
		mutate  func(h http.Header)
		body    string
		now     time.Time
		wantErr error
	}{
		{name: "the spec's example", now: at},
		{name: "4m59s later", now: at.Add(Tolerance - time.Second)},
		{name: "4m59s earlier (clock skew)", now: at.Add(-Tolerance + time.Second)},
		{name: "a second more than 5 minutes old", now: at.Add(Tolerance + time.Second), wantErr: ErrStale},
		{name: "more than 5 minutes in the future", now: at.Add(-Tolerance - time.Second), wantErr: ErrStale},
		{name: "a day old", now: at.Add(24 * time.Hour), wantErr: ErrStale},
		{name: "wrong secret", secret: "whsec_" + "b3RoZXIgc2VjcmV0", now: at, wantErr: ErrBadSignature},
		{name: "the raw secret string is not its decoded key", secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", now: at, wantErr: ErrBadSignature},
		{name: "no secret configured", secret: "-", now: at, wantErr: ErrNoSecret},
		{name: "tampered body", body: `{"test": 2432232315}`, now: at, wantErr: ErrBadSignature},
		{name: "another id", mutate: func(h http.Header) { h.Set(HeaderID, "msg_other") }, now: at, wantErr: ErrBadSignature},
		{name: "timestamp moved to now", mutate: func(h http.Header) { h.Set(HeaderTimestamp, strconv.Itoa(specTimestamp+600)) }, now: at.Add(600 * time.Second), wantErr: ErrBadSignature},
		{name: "v2 only", mutate: func(h http.Header) { h.Set(HeaderSignature, "v2,"+specSignature[3:]) }, now: at, wantErr: ErrBadSignature},
		{name: "one of several signatures", mutate: func(h http.Header) { h.Set(HeaderSignature, "v1,bm9wZQ== "+specSignature) }, now: at},
		{name: "no id", mutate: func(h http.Header) { h.Del(HeaderID) }, now: at, wantErr: ErrMissing},
		{name: "no timestamp", mutate: func(h http.Header) { h.Del(HeaderTimestamp) }, now: at, wantErr: ErrMissing},
		{name: "no signature", mutate: func(h http.Header) { h.Del(HeaderSignature) }, now: at, wantErr: ErrMissing},
		{name: "timestamp not a number", mutate: func(h http.Header) { h.Set(HeaderTimestamp, "2021-02-25T15:02:10Z") }, now: at, wantErr: ErrMalformed},
		{name: "timestamp overflows", mutate: func(h http.Header) { h.Set(HeaderTimestamp, "-9223372036854775808") }, now: at, wantErr: ErrStale},
		{name: "id too long", mutate: func(h http.Header) { h.Set(HeaderID, string(make([]byte, MaxIDLength+1))) }, now: at, wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := specHeaders()
			if tt.mutate != nil {
				tt.mutate(h)
			}
			secret, body := specSecret, specPayload
			if tt.secret == "-" {
				secret = ""
			} else if tt.secret != "" {
				secret = tt.secret
			}
			if tt.body != "" {
				body = tt.body
			}
			id, err := VerifyStandard(secret, h, []byte(body), tt.now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("VerifyStandard = %q, %v; want %v", id, err, tt.wantErr)
			}
			if err == nil && id != specID {
				t.Fatalf("id = %q, want %q", id, specID)
			}
		})
	}
}

// What SetStandard writes is what the scheme's own library (the verifier a
// customer would use) accepts, at the wall clock as that library reads it.
func TestSetStandardPassesTheLibrarysVerify(t *testing.T) {
	for _, secret := range []string{"a-plain-secret-of-ours", specSecret} {
		h := http.Header{}
		body := []byte(`{"event_id":"x:delivered"}`)
		if err := SetStandard(h, secret, "x:delivered", time.Now(), body); err != nil {
			t.Fatal(err)
		}
		var wh *standardwebhooks.Webhook
		var err error
		if secret == specSecret {
			wh, err = standardwebhooks.NewWebhook(secret)
		} else {
			wh, err = standardwebhooks.NewWebhookRaw([]byte(secret))
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Fatalf("library Verify with secret %.8s…: %v", secret, err)
		}
	}
}

// FuzzVerify: whatever the headers and body, VerifyStandard never panics
// and never accepts a signature that is not the MAC of that id, timestamp
// and body; the legacy Valid likewise.
func FuzzVerify(f *testing.F) {
	f.Add(specID, strconv.Itoa(specTimestamp), specSignature, specPayload, "")
	f.Add(specID, strconv.Itoa(specTimestamp), "v1,"+specSignature, specPayload, "sha256=00")
	f.Add("", "", "", "", "")
	f.Add("a", "99999999999999999999", "v1,,v1", "{}", "sha256=")
	f.Add("msg", "-1", "v1 v1, v1,====", "\x00\xff", Sign("k", []byte("\x00\xff")))
	at := time.Unix(specTimestamp, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig, body, legacy string) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		got, err := VerifyStandard(specSecret, h, []byte(body), at)
		if err == nil {
			want, serr := SignStandard(specSecret, h.Get(HeaderID), time.Unix(mustInt(t, ts), 0), []byte(body))
			if serr != nil || !containsSig(h.Get(HeaderSignature), want) || got != h.Get(HeaderID) {
				t.Fatalf("accepted id %q ts %q sig %q body %q", id, ts, sig, body)
			}
		}
		if Valid("k", []byte(body), legacy) && legacy != Sign("k", []byte(body)) {
			t.Fatalf("legacy Valid accepted %q for %q", legacy, body)
		}
	})
}

func mustInt(t *testing.T, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("accepted timestamp %q: %v", s, err)
	}
	return n
}

func containsSig(header, want string) bool {
	for _, s := range splitSpaces(header) {
		// The library reads "v1,<mac>" and ignores any further ",…".
		if s == want || strings.HasPrefix(s, want+",") {
			return true
		}
	}
	return false
}

func splitSpaces(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
