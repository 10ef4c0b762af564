package outcomes

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// NewHTTPClient returns the client status callbacks are POSTed with. A
// status_callback URL comes from a customer's request, so unless
// allowPrivate is set it may reach only public addresses: the check runs
// on the address actually dialled, after DNS, so a name that resolves
// inward is refused too. Redirects are not followed, for the same reason.
func NewHTTPClient(timeout time.Duration, allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = refusePrivate
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	tr.Proxy = nil // a proxy would dial for us, past the check
	tr.MaxIdleConnsPerHost = 16
	return &http.Client{
		Timeout:       timeout,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// guard is code.dny.dev/ssrf's maintained deny list (IANA's special-purpose
// registries: loopback, private, link-local, CGNAT, "this network",
// benchmarking, reserved, multicast, documentation; for IPv6 everything
// outside global unicast 2000::/3, so NAT64, IPv4-compatible and site-local
// addresses too, and 6to4 and the other special prefixes within it) rather
// than a hand-kept list, which had let NAT64, 6to4, ::a.b.c.d, fec0::/10,
// 0.0.0.0/8, 198.18.0.0/15 and 240.0.0.0/4 through. Only the address is
// checked: any port is allowed (a customer's receiver may listen on 8443),
// and the transport dials nothing but TCP.
var guard = ssrf.New(ssrf.WithAnyPort(), ssrf.WithAnyNetwork())

// refusePrivate is the dialer's Control: it refuses any address the guard
// does not call public.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("status callback: address %q: %w", address, err)
	}
	// An IPv4-mapped address reaches the IPv4 address it holds: check that.
	a := ap.Addr().Unmap()
	if err := guard.SafeAddr(a); err != nil {
		return fmt.Errorf("status callback: %s is not a public address (SMSFLEET_CALLBACK_ALLOW_PRIVATE allows it): %w", a, err)
	}
	return nil
}

// public reports whether the guard lets a (unmapped) address be reached.
func public(a netip.Addr) bool { return guard.SafeAddr(a) == nil }
