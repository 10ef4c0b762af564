package signature

import "testing"

func TestSignAndValid(t *testing.T) {
	// The value `printf %s '{"a":1}' | openssl dgst -sha256 -hmac k` prints.
	const want = "sha256=c3a92ff9e274cdcce27a58c15a78ec6dcbbdbd0038a87e7a11baef2028fd8bff"
	body := []byte(`{"a":1}`)
	tests := []struct {
		name, secret, got string
		valid             bool
	}{
		{"right signature", "k", want, true},
		{"wrong secret", "other", want, false},
		{"tampered signature", "k", want[:len(want)-1] + "0", false},
		{"missing signature", "k", "", false},
		{"no secret configured", "", Sign("", body), false},
	}
	if got := Sign("k", body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v := Valid(tt.secret, body, tt.got); v != tt.valid {
				t.Fatalf("Valid = %v, want %v", v, tt.valid)
			}
		})
	}
}
