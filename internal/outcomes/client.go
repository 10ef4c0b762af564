package outcomes

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// NewHTTPClient returns the client status callbacks are POSTed with. A
// status_callback URL comes from a customer's request, so unless
// allowPrivate is set it may not reach loopback, private, link-local
// (cloud metadata) or other non-public addresses: the check runs on the
// address actually dialled, after DNS, so a name that resolves inward is
// refused too. Redirects are not followed, for the same reason.
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

func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("status callback: address %q: %w", address, err)
	}
	if a := ap.Addr().Unmap(); !public(a) {
		return fmt.Errorf("status callback: %s is not a public address (SMSFLEET_CALLBACK_ALLOW_PRIVATE allows it)", a)
	}
	return nil
}

func public(a netip.Addr) bool {
	return a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() &&
		!netip.MustParsePrefix("100.64.0.0/10").Contains(a) && // carrier-grade NAT
		!netip.MustParsePrefix("fc00::/7").Contains(a)
}
