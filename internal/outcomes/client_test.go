package outcomes

import (
	"net/netip"
	"strings"
	"testing"
)

// TestDialGuardRefusesNonPublicAddresses runs the status-callback
// dialer's Control on the address strings the dialler hands it (after
// DNS), SMSFLEET_CALLBACK_ALLOW_PRIVATE off: every special-purpose range
// the hand-kept list let through is refused now, and public addresses
// still pass (issue 13, item 11). No network is used.
func TestDialGuardRefusesNonPublicAddresses(t *testing.T) {
	refused := []struct{ addr, what string }{
		// What the hand-kept list called public.
		{"[64:ff9b::7f00:1]:443", "NAT64 of 127.0.0.1"},
		{"[64:ff9b::a9fe:a9fe]:443", "NAT64 of the metadata address"},
		{"[2002:7f00:1::1]:443", "6to4 of 127.0.0.1"},
		{"[2002:a9fe:a9fe::1]:443", "6to4 of 169.254.169.254"},
		{"[::127.0.0.1]:443", "IPv4-compatible 127.0.0.1"},
		{"[::a9fe:a9fe]:443", "IPv4-compatible 169.254.169.254"},
		{"[::8.8.8.8]:443", "IPv4-compatible, deprecated"},
		{"[fec0::1]:443", "site-local"},
		{"0.0.0.0:443", "this network"},
		{"0.1.2.3:443", "this network"},
		{"198.18.0.1:443", "benchmarking"},
		{"198.19.255.254:443", "benchmarking"},
		{"240.0.0.1:443", "reserved"},
		{"255.255.255.254:443", "reserved"},
		// What it refused already.
		{"127.0.0.1:8080", "loopback"},
		{"[::1]:443", "loopback"},
		{"10.1.2.3:443", "private"},
		{"172.16.0.1:443", "private"},
		{"192.168.1.1:443", "private"},
		{"169.254.169.254:80", "link-local (cloud metadata)"},
		{"[fe80::1]:443", "link-local"},
		{"100.64.0.1:443", "CGNAT"},
		{"[fd12::1]:443", "unique local"},
		{"224.0.0.1:443", "multicast"},
		{"[ff02::1]:443", "multicast"},
		{"[::]:443", "unspecified"},
		{"[::ffff:127.0.0.1]:443", "IPv4-mapped loopback"},
		{"[::ffff:10.0.0.1]:443", "IPv4-mapped private"},
		{"192.0.2.1:443", "documentation"},
		{"[2001:db8::1]:443", "documentation"},
	}
	for _, tt := range refused {
		for _, network := range []string{"tcp4", "tcp6"} {
			err := refusePrivate(network, tt.addr, nil)
			if err == nil || !strings.Contains(err.Error(), "is not a public address (SMSFLEET_CALLBACK_ALLOW_PRIVATE allows it)") {
				t.Errorf("%s (%s) over %s: %v, want refused", tt.addr, tt.what, network, err)
			}
		}
	}
	for _, addr := range []string{"8.8.8.8:443", "1.1.1.1:8443", "[2001:4860:4860::8888]:443", "[2606:4700:4700::1111]:80", "[::ffff:8.8.8.8]:443"} {
		if err := refusePrivate("tcp6", addr, nil); err != nil {
			t.Errorf("%s: %v, want allowed", addr, err)
		}
		ap := netip.MustParseAddrPort(addr)
		if !public(ap.Addr().Unmap()) {
			t.Errorf("public(%s) = false", ap.Addr())
		}
	}
	if err := refusePrivate("tcp4", "not an address", nil); err == nil {
		t.Error("an unparsable address was allowed")
	}
}
