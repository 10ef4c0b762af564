package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/fiorix/go-smpp/smpp/pdu/pdutext"
	"github.com/fiorix/go-smpp/smpp/smpptest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// newTestSMPP binds a client to addr and waits for the bind.
func newTestSMPP(t *testing.T, addr string, edit func(*SMPPConfig)) *SMPP {
	t.Helper()
	cfg := SMPPConfig{
		Name: "smsc1", Addr: addr,
		SystemID: smpptest.DefaultUser, Password: smpptest.DefaultPasswd,
		SubmitTimeout: 2 * time.Second, RebindInterval: 20 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := NewSMPP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run(t, c)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.WaitBound(ctx); err != nil {
		t.Fatalf("not bound: %v", err)
	}
	return c
}

// run runs c until the test ends (Close, or the cancel, stops it) and
// checks that Run returned.
func run(t *testing.T, c *SMPP) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

func mustSend(t *testing.T, c *SMPP, req Request) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.Send(ctx, req)
	if err != nil {
		t.Fatalf("Send(%q): %v", req.Text, err)
	}
	return res
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *provider.Error", err, err)
	}
	return pe
}

func TestSMPPSendGSM(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t).Start()
	c := newTestSMPP(t, smsc.Addr(), nil)

	res := mustSend(t, c, Request{ID: "m.1", To: "+4915112345678", From: "SMSFleet", Text: "Hi @ {you} €5"})
	sub := smsc.Next(t)
	if res.Provider != "smsc1" || res.Ref != sub.ID || res.Ref == "" {
		t.Fatalf("result %+v, SMSC gave id %q", res, sub.ID)
	}
	// Unpacked GSM 03.38 septets, one an octet; extension characters are
	// ESC + code.
	want := []byte{'H', 'i', ' ', 0x00, ' ', 0x1B, 0x28, 'y', 'o', 'u', 0x1B, 0x29, ' ', 0x1B, 0x65, '5'}
	if string(sub.SM) != string(want) {
		t.Errorf("short_message % X, want % X", sub.SM, want)
	}
	if sub.DataCoding != 0 || sub.EsmClass != 0 || sub.RegDelivery != 1 {
		t.Errorf("data_coding %d esm_class %#x registered_delivery %d, want 0 0 1", sub.DataCoding, sub.EsmClass, sub.RegDelivery)
	}
	if sub.Dst != "4915112345678" || sub.DstTON != 1 || sub.DstNPI != 1 {
		t.Errorf("destination %q TON %d NPI %d", sub.Dst, sub.DstTON, sub.DstNPI)
	}
	if sub.Src != "SMSFleet" || sub.SrcTON != 5 || sub.SrcNPI != 0 {
		t.Errorf("source %q TON %d NPI %d, want alphanumeric", sub.Src, sub.SrcTON, sub.SrcNPI)
	}
}

func TestSMPPSendUCS2(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t).Start()
	c := newTestSMPP(t, smsc.Addr(), nil)

	text := "Привет 👋 `ok`" // the backtick alone is not GSM
	mustSend(t, c, Request{To: "4915112345678", From: "+4930123456", Text: text})
	sub := smsc.Next(t)
	var want []byte
	for _, u := range utf16.Encode([]rune(text)) {
		want = append(want, byte(u>>8), byte(u))
	}
	if sub.DataCoding != 8 || string(sub.SM) != string(want) {
		t.Errorf("data_coding %d short_message % X, want 8 % X", sub.DataCoding, sub.SM, want)
	}
	if sub.Src != "4930123456" || sub.SrcTON != 1 || sub.SrcNPI != 1 {
		t.Errorf("source %q TON %d NPI %d, want international without +", sub.Src, sub.SrcTON, sub.SrcNPI)
	}
}

func TestSMPPSendLong(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t).Start()
	c := newTestSMPP(t, smsc.Addr(), nil)

	gsm := strings.Repeat("a", 152) + "€" + strings.Repeat("b", 150) + "[]" + strings.Repeat("c", 100)
	ucs := strings.Repeat("ж", 66) + "😀" + strings.Repeat("й", 120)
	for _, tc := range []struct {
		name, text string
		coding     byte
		decode     func([]byte) string
	}{
		{"gsm7", gsm, 0, func(b []byte) string { return string(pdutext.GSM7(b).Decode()) }},
		{"ucs2", ucs, 8, func(b []byte) string { return string(pdutext.UCS2(b).Decode()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _, err := sms.Segments(tc.text)
			if err != nil || n < 3 {
				t.Fatalf("Segments = %d, %v; the test wants at least 3 parts", n, err)
			}
			res := mustSend(t, c, Request{To: "+4915112345678", From: "Fleet", Text: tc.text})
			wantTexts := sms.SplitParts(tc.text)
			var ref byte
			for i := 0; i < n; i++ {
				sub := smsc.Next(t)
				if i == 0 && res.Ref != sub.ID {
					t.Errorf("Ref %q, want the first part's id %q", res.Ref, sub.ID)
				}
				if sub.EsmClass&0x40 == 0 || sub.DataCoding != tc.coding {
					t.Errorf("part %d: esm_class %#x data_coding %d", i+1, sub.EsmClass, sub.DataCoding)
				}
				if len(sub.SM) < 6 {
					t.Fatalf("part %d: short_message % X", i+1, sub.SM)
				}
				udh := sub.SM[:6]
				if i == 0 {
					ref = udh[3]
				}
				if want := []byte{5, 0, 3, ref, byte(n), byte(i + 1)}; string(udh) != string(want) {
					t.Errorf("part %d: UDH % X, want % X", i+1, udh, want)
				}
				if got := tc.decode(sub.SM[6:]); got != wantTexts[i] {
					t.Errorf("part %d: text %q, want %q", i+1, got, wantTexts[i])
				}
			}
			select {
			case sub := <-smsc.Submits:
				t.Errorf("more parts than Segments counts (%d): % X", n, sub.SM)
			default:
			}
		})
	}
}

func TestSMPPErrorStatus(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t)
	smsc.Answer = func(sub testenv.Submitted) (uint32, bool) {
		st, _ := strconv.ParseUint(string(sub.SM), 16, 32)
		return uint32(st), true
	}
	smsc.Start()
	c := newTestSMPP(t, smsc.Addr(), nil)
	for _, tc := range []struct {
		status uint32
		class  Class
	}{
		{0x58, Throttled}, // ESME_RTHROTTLED
		{0x14, Throttled}, // ESME_RMSGQFUL
		{0x0B, Permanent}, // ESME_RINVDSTADR
		{0x0A, Permanent}, // ESME_RINVSRCADR
		{0x01, Permanent}, // ESME_RINVMSGLEN
		{0x104, Permanent},
		{0x08, Transient}, // ESME_RSYSERR
		{0x45, Transient}, // ESME_RSUBMITFAIL
		{0x04, Transient}, // ESME_RINVBNDSTS
		{0x400, Transient},
	} {
		_, err := c.Send(context.Background(), Request{To: "+4915112345678", Text: fmt.Sprintf("%X", tc.status)})
		pe := asError(t, err)
		if pe.Class != tc.class || pe.Ambiguous || pe.Provider != "smsc1" || pe.Code != fmt.Sprintf("0x%08X", tc.status) {
			t.Errorf("status %#x: %+v, want %s not ambiguous", tc.status, pe, tc.class)
		}
	}
}

func TestSMPPSubmitTimeout(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t)
	smsc.Answer = func(sub testenv.Submitted) (uint32, bool) { return 0, string(sub.SM) != "lost" }
	smsc.Start()
	c := newTestSMPP(t, smsc.Addr(), func(c *SMPPConfig) { c.SubmitTimeout = 150 * time.Millisecond })

	start := time.Now()
	_, err := c.Send(context.Background(), Request{To: "+4915112345678", Text: "lost"})
	pe := asError(t, err)
	if pe.Class != Transient || !pe.Ambiguous || !IsAmbiguous(err) {
		t.Fatalf("%+v, want transient ambiguous", pe)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("gave up after %s, before SubmitTimeout", d)
	}
	// The session and its window slot survive.
	mustSend(t, c, Request{To: "+4915112345678", Text: "next"})
	smsc.Next(t)
	smsc.Next(t)

	// A canceled context while waiting is ambiguous too.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-smsc.Submits; cancel() }()
	_, err = c.Send(ctx, Request{To: "+4915112345678", Text: "lost"})
	if pe := asError(t, err); !pe.Ambiguous || !errors.Is(err, context.Canceled) {
		t.Fatalf("%+v, want ambiguous and canceled", pe)
	}
}

// gate is a TCP relay in front of the SMSC that can refuse connections,
// and terminate TLS, neither of which smpptest does.
type gate struct {
	ln     net.Listener
	target string
	down   atomic.Bool
}

func newGate(t *testing.T, target string, cfg *tls.Config) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	g := &gate{ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if g.down.Load() {
				_ = c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			relay := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				_ = dst.Close()
				_ = src.Close()
			}
			go relay(c, u)
			go relay(u, c)
		}
	}()
	return g
}

func (g *gate) addr() string { return g.ln.Addr().String() }

func TestSMPPRebind(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t).Start()
	g := newGate(t, smsc.Addr(), nil)
	c := newTestSMPP(t, g.addr(), nil)
	first := mustSend(t, c, Request{To: "+4915112345678", Text: "before"})

	// The SMSC drops the session and refuses binds for a while.
	g.down.Store(true)
	smsc.CloseConns()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.waitState(ctx, false); err != nil {
		t.Fatalf("session loss not noticed: %v", err)
	}
	_, err := c.Send(ctx, Request{To: "+4915112345678", Text: "while down"})
	if pe := asError(t, err); pe.Class != Transient || pe.Ambiguous {
		t.Fatalf("%+v, want transient not ambiguous: nothing was written", pe)
	}

	g.down.Store(false)
	if err := c.WaitBound(ctx); err != nil {
		t.Fatalf("no rebind: %v", err)
	}
	again := mustSend(t, c, Request{To: "+4915112345678", Text: "after"})
	if again.Ref == first.Ref {
		t.Errorf("same ref %q twice", again.Ref)
	}
}

func TestSMPPSessionLostInFlight(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t)
	smsc.Answer = func(sub testenv.Submitted) (uint32, bool) { return 0, string(sub.SM) != "hang" }
	smsc.Start()
	c := newTestSMPP(t, smsc.Addr(), func(c *SMPPConfig) { c.SubmitTimeout = 10 * time.Second })
	mustSend(t, c, Request{To: "+4915112345678", Text: "hello"})

	smsc.Next(t)
	go func() { <-smsc.Submits; smsc.CloseConns() }()
	start := time.Now()
	_, err := c.Send(context.Background(), Request{To: "+4915112345678", Text: "hang"})
	if pe := asError(t, err); pe.Class != Transient || !pe.Ambiguous {
		t.Fatalf("%+v, want transient ambiguous: the submit_sm was written", pe)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s: waited for SubmitTimeout instead of failing with the session", d)
	}
	// gosmpp rebinds at once to the SMSC, still listening.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.WaitBound(ctx); err != nil {
		t.Fatal(err)
	}
	mustSend(t, c, Request{To: "+4915112345678", Text: "after"})
}

func TestSMPPConcurrent(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t)
	smsc.Async = true
	smsc.Start()
	c := newTestSMPP(t, smsc.Addr(), func(c *SMPPConfig) { c.Window = 10 })

	var (
		mu   sync.Mutex
		refs = map[string]bool{}
		wg   sync.WaitGroup
		errs = make(chan error, 200)
	)
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				res, err := c.Send(context.Background(), Request{To: "+4915112345678", Text: fmt.Sprintf("g%d i%d", g, i)})
				if err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				refs[res.Ref] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(refs) != 200 {
		t.Errorf("%d distinct refs, want 200", len(refs))
	}
	if m := smsc.MaxInflight(); m > 10 {
		t.Errorf("%d submit_sm in flight at once, window is 10", m)
	}
}

func TestSMPPTLS(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t).Start()
	cert, pool := selfSigned(t)
	g := newGate(t, smsc.Addr(), &tls.Config{Certificates: []tls.Certificate{cert}})
	c := newTestSMPP(t, g.addr(), func(c *SMPPConfig) { c.TLS = &tls.Config{RootCAs: pool} })
	res := mustSend(t, c, Request{To: "+4915112345678", Text: "over TLS"})
	if sub := smsc.Next(t); sub.ID != res.Ref || string(sub.SM) != "over TLS" {
		t.Errorf("SMSC got %q as %q, client has %q", sub.SM, sub.ID, res.Ref)
	}
}

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smsc"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestSMPPBadRequest(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t).Start()
	c := newTestSMPP(t, smsc.Addr(), nil)
	for _, req := range []Request{
		{To: "", Text: "x"},
		{To: "+49 151", Text: "x"},
		{To: "+4915112345678", Text: "bad \xff"},
		{To: "+4915112345678", From: strings.Repeat("1", 21), Text: "x"},
	} {
		_, err := c.Send(context.Background(), req)
		if pe := asError(t, err); pe.Class != Permanent || pe.Ambiguous {
			t.Errorf("%+v: %+v, want permanent", req, pe)
		}
	}
	// A context already done writes nothing, so it is not ambiguous.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Send(ctx, Request{To: "+4915112345678", Text: "x"})
	if pe := asError(t, err); pe.Class != Transient || pe.Ambiguous {
		t.Errorf("canceled: %+v, want transient not ambiguous", pe)
	}
	select {
	case sub := <-smsc.Submits:
		t.Errorf("a bad request reached the SMSC: %+v", sub)
	default:
	}
}

func TestSMPPNotBound(t *testing.T) {
	t.Parallel()
	// Nothing listens there: the bind keeps failing, Send fails cleanly,
	// and the logs name the system_id but never the password.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	log, logs, bindFailed := observedLogger()
	c, err := NewSMPP(SMPPConfig{Addr: addr, SystemID: "fleet", Password: "s3cr3tpw", RebindInterval: 10 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	run(t, c)
	defer c.Close()
	waitLog(t, bindFailed)
	waitLog(t, bindFailed)
	_, err = c.Send(context.Background(), Request{To: "+4915112345678", Text: "x"})
	if pe := asError(t, err); pe.Class != Transient || pe.Ambiguous || pe.Provider != "smpp" {
		t.Fatalf("%+v, want transient not ambiguous", pe)
	}
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		if strings.Contains(line, "s3cr3tpw") {
			t.Errorf("password logged: %s", line)
		}
	}
	if err := c.Close(); err != nil {
		t.Error(err)
	}
}

// observedLogger records every entry, and signals each "smpp bind
// failed" on the channel.
func observedLogger() (*zap.Logger, *observer.ObservedLogs, chan struct{}) {
	core, logs := observer.New(zap.DebugLevel)
	ch := make(chan struct{}, 100)
	return zap.New(core, zap.Hooks(func(e zapcore.Entry) error {
		if e.Message == "smpp bind failed" {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		return nil
	})), logs, ch
}

func waitLog(t *testing.T, ch chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(3 * time.Second):
		t.Fatal("no bind attempt logged")
	}
}

func TestSMPPBadPassword(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t).Start()
	log, logs, bindFailed := observedLogger()
	c, err := NewSMPP(SMPPConfig{Addr: smsc.Addr(), SystemID: smpptest.DefaultUser, Password: "wrongpw",
		RebindInterval: 10 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	run(t, c)
	defer c.Close()
	waitLog(t, bindFailed)
	if c.Bound() {
		t.Fatal("bound with a wrong password")
	}
	for _, e := range logs.All() {
		if line := e.Message + fmt.Sprint(e.ContextMap()); strings.Contains(line, "wrongpw") {
			t.Errorf("password logged: %s", line)
		}
	}
}

func TestSMPPConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []SMPPConfig{
		{SystemID: "a"},
		{Addr: "no-port", SystemID: "a"},
		{Addr: "127.0.0.1:1"},
		{Addr: "127.0.0.1:1", SystemID: "a", Window: -1},
		{Addr: "127.0.0.1:1", SystemID: "a", SubmitTimeout: -time.Second},
	} {
		cfg.Password = "hunter22"
		_, err := NewSMPP(cfg)
		if err == nil {
			t.Errorf("%+v accepted", cfg)
			continue
		}
		if strings.Contains(err.Error(), "hunter22") {
			t.Errorf("password in error %q", err)
		}
	}
	cfg := SMPPConfig{Name: "x", Addr: "h:1", SystemID: "id", Password: "hunter22"}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg)} {
		if strings.Contains(s, "hunter22") {
			t.Errorf("password printed: %s", s)
		}
	}
}
