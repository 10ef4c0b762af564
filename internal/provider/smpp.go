package provider

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// KindSMPP is an SMSC reached over SMPP 3.4, bound as a transceiver. Its
// delivery receipts come on the same connection (smpp_receipt.go), so it
// takes no webhooks; the fleet hands it Deps.OnReceipt instead.
const KindSMPP KindName = "smpp"

func init() { register(smppKind{}) }

type smppKind struct{}

func (smppKind) Name() KindName { return KindSMPP }

func (smppKind) Validate(c Config) error {
	if err := required(c, "addr", c.Addr); err != nil {
		return err
	}
	if _, err := ParseMessageIDType(c.MessageIDType); err != nil {
		return fmt.Errorf("provider %s (smpp): message_id_type: %w", c.Name, err)
	}
	if _, err := ParseSMPPValidity(c.ValidityFormat); err != nil {
		return fmt.Errorf("provider %s (smpp): validity_format: %w", c.Name, err)
	}
	return required(c, "system_id", c.SystemID)
}

func (smppKind) New(c Config, d Deps) (Provider, error) {
	ids, err := ParseMessageIDType(c.MessageIDType)
	if err != nil {
		return nil, fmt.Errorf("provider %s (smpp): message_id_type: %w", c.Name, err)
	}
	validity, err := ParseSMPPValidity(c.ValidityFormat)
	if err != nil {
		return nil, fmt.Errorf("provider %s (smpp): validity_format: %w", c.Name, err)
	}
	var tc *tls.Config
	if c.TLS {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return NewSMPP(SMPPConfig{
		Name: c.Name, Addr: c.Addr, SystemID: c.SystemID, Password: Secret(c.PasswordEnv), SystemType: c.SystemType,
		TLS: tc, Window: c.Window, EnquireLink: c.EnquireLink, SubmitTimeout: c.timeout(),
		MessageIDType: ids, Validity: validity, OnReceipt: d.OnReceipt, OnReply: d.OnReply, MOParts: d.MOParts, Logger: d.logger().Named("smpp"),
	})
}

// Webhooks is nil: receipts (OnReceipt) and mobile-originated messages
// (OnReply, smpp_mo.go) arrive on the connection.
func (smppKind) Webhooks() Webhooks { return nil }

// SMPPConfig configures an SMPP 3.4 client bound as a transceiver: one TCP
// (or TLS) session carries our submit_sm and the SMSC's delivery receipts.
type SMPPConfig struct {
	// Name is the provider's name in results, errors, receipts and logs;
	// empty means "smpp".
	Name string
	// Addr is the SMSC's host:port.
	Addr string
	// SystemID, Password and SystemType are the bind credentials. The
	// password is never logged nor put in an error (see String).
	SystemID, Password, SystemType string
	// TLS, when set, dials the SMSC with TLS; nil is plain TCP.
	TLS *tls.Config
	// Window is the most submit_sm in flight (written, not yet answered)
	// at once; 0 means 10. SMSCs enforce a window per bind and answer
	// beyond it with throttling errors or by dropping the bind.
	Window int
	// EnquireLink is how often the link is probed; 0 means 30s. A link
	// whose SMSC stays silent for EnquireLink+SubmitTimeout is dropped and
	// rebound.
	EnquireLink time.Duration
	// SubmitTimeout is how long Send waits for each submit_sm_resp; 0
	// means 10s. It also bounds dialling and the bind (at least 5s).
	SubmitTimeout time.Duration
	// RebindInterval is the wait between failed bind attempts; 0 means 5s.
	RebindInterval time.Duration
	// SourceTON/NPI and DestTON/NPI are the address types. Left all zero
	// (a zero byte cannot be told from "unset"), the source is
	// alphanumeric (5, 0) when From contains a letter and international
	// (1, 1) otherwise, and the destination is international (1, 1).
	SourceTON, SourceNPI, DestTON, DestNPI byte
	// MessageIDType is how the SMSC writes message ids in submit_sm_resp
	// and receipts (smpp_msgid.go); the zero value compares them as sent.
	MessageIDType MessageIDType
	// Validity is how Request.Expires goes in validity_period
	// (smpp_validity.go); the zero value is the relative form.
	Validity SMPPValidity
	// OnReceipt lands each delivery receipt, normalised (see
	// smpp_receipt.go), and returns nil once it has landed durably (in
	// Kafka, or the delivery state): only then is the receipt's
	// deliver_sm answered ESME_ROK; an error has it answered with a
	// temporary error so the SMSC delivers it again (smpp_inbox.go). It
	// runs on an inbox worker, never on the session's reader, within
	// LandTimeout (ctx). May be nil: receipts are then acknowledged and
	// dropped.
	OnReceipt func(ctx context.Context, r sms.Receipt) error
	// OnReply lands each mobile-originated message (a deliver_sm or
	// data_sm that is not a receipt), decoded and, when long, reassembled
	// (smpp_mo.go), with the provider's name, as OnReceipt does: nil once
	// landed; an error wrapping ErrUnlandable refuses it for good. May be
	// nil: MO is then counted and dropped.
	OnReply func(ctx context.Context, provider string, r Reply) error
	// LandTimeout bounds each landing (OnReceipt, OnReply and the parts
	// store); 0 means SubmitTimeout. What does not land in time is
	// answered with a temporary error and delivered again.
	LandTimeout time.Duration
	// MOParts holds the parts of long MO until the last one comes
	// (internal/store over Redis: parts survive a restart and may arrive
	// on any worker's bind). nil holds them in this process's memory,
	// lost when it stops (for tools and tests without Redis).
	MOParts MOPartStore
	// MO bounds the reassembly of long MO; zero fields take defaults.
	MO MOConfig
	// Now is the clock validity periods are computed on and long MO
	// parts time out on; nil is time.Now.
	Now func() time.Time
	// Logger may be nil.
	Logger *zap.Logger
}

// String leaves the password out, so a config that ends up in a log line
// or an error message does not leak the credential.
func (c SMPPConfig) String() string {
	tr := "tcp"
	if c.TLS != nil {
		tr = "tls"
	}
	return fmt.Sprintf("smpp %s (%s %s, system_id %s)", c.Name, tr, c.Addr, c.SystemID)
}

// GoString keeps the password out of %#v too.
func (c SMPPConfig) GoString() string { return c.String() }

// Defaults of SMPPConfig.
const (
	SMPPDefaultWindow         = 10
	SMPPDefaultEnquireLink    = 30 * time.Second
	SMPPDefaultSubmitTimeout  = 10 * time.Second
	SMPPDefaultRebindInterval = 5 * time.Second
)

// partRefsSize bounds the part→first-part map (see SMPP): at ~60 bytes an
// entry it stays a few MB, and receipts older than this many later parts
// are rare enough to lose their mapping.
const partRefsSize = 1 << 16

// statusInvalidDCS is SMPP 5.0's ESME_RINVDCS, which 3.4 SMSCs use too but
// gosmpp does not define.
const statusInvalidDCS = data.CommandStatusType(0x00000104)

// SMPP sends SMS over one SMPP 3.4 transceiver bind (gosmpp), rebinding on
// its own whenever the session drops.
//
// Long texts are cut exactly where sms.Segments counts (sms.SplitParts) and
// sent as several submit_sm with a concatenation UDH, one after the other,
// so a rejected part stops the rest. Result.Ref is the message_id of the
// first part. The SMSC sends a receipt per part, each naming its own
// message_id; receipts of the other parts are mapped back to the first
// part's id through a small in-memory map (partRefsSize entries, oldest
// forgotten first), best effort: after a restart, or for very late
// receipts, they carry an id nobody knows and match nothing.
//
// SMPP has no idempotency key, so Request.ID is not sent.
type SMPP struct {
	cfg       SMPPConfig
	log       *zap.Logger
	ioTimeout time.Duration

	window    chan struct{} // a token per submit_sm in flight
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	running   atomic.Bool // Run was called
	sess      atomic.Pointer[gosmpp.Session]
	udhRef    atomic.Uint32 // the concatenation reference of the next long SMS
	parts     *partRefs
	mo        *moAssembler // long MO waiting for their other parts, without MOParts
	holder    moHolder     // where long MO wait: s.mo, or MOParts
	inbox     *inbox       // deliver_sm and data_sm waiting to be landed
	badUDH    sync.Map     // int32 sequence numbers of deliver_sm mended by udhGuardConn

	mu      sync.Mutex
	pending map[int32]pendingSubmit // by sequence number
	bound   bool
	lost    uint64        // sessions lost so far
	changed chan struct{} // closed and replaced when bound changes
}

// pendingSubmit is a submit_sm waiting for its submit_sm_resp.
type pendingSubmit struct {
	ch    chan outcome // buffered: the reading goroutine never blocks on it
	first string       // the first part's message_id, for later parts
}

// outcome is how a submit_sm ended.
type outcome struct {
	status    data.CommandStatusType
	messageID string
	nack      bool  // generic_nack instead of submit_sm_resp
	err       error // no answer: the write failed or the session was lost
	written   bool  // with err: the SMSC may have read the submit_sm
}

// NewSMPP checks cfg and returns the client, unbound: Run binds it and
// keeps it bound, and Send fails (transient, not ambiguous) until the bind
// succeeds. Close unbinds it.
func NewSMPP(cfg SMPPConfig) (*SMPP, error) {
	if cfg.Name == "" {
		cfg.Name = "smpp"
	}
	if cfg.Addr == "" {
		return nil, fmt.Errorf("%s: Addr is required", cfg)
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("%s: Addr: %w", cfg, err)
	}
	if cfg.SystemID == "" {
		return nil, fmt.Errorf("%s: SystemID is required", cfg)
	}
	if cfg.Window < 0 || cfg.EnquireLink < 0 || cfg.SubmitTimeout < 0 || cfg.RebindInterval < 0 {
		return nil, fmt.Errorf("%s: Window and durations must not be negative", cfg)
	}
	if cfg.Window == 0 {
		cfg.Window = SMPPDefaultWindow
	}
	if cfg.EnquireLink == 0 {
		cfg.EnquireLink = SMPPDefaultEnquireLink
	}
	if cfg.SubmitTimeout == 0 {
		cfg.SubmitTimeout = SMPPDefaultSubmitTimeout
	}
	if cfg.RebindInterval == 0 {
		cfg.RebindInterval = SMPPDefaultRebindInterval
	}
	if cfg.LandTimeout <= 0 {
		cfg.LandTimeout = cfg.SubmitTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	s := &SMPP{
		cfg:       cfg,
		log:       log.With(zap.String("provider", cfg.Name), zap.String("addr", cfg.Addr), zap.String("system_id", cfg.SystemID)),
		ioTimeout: max(cfg.SubmitTimeout, 5*time.Second),
		window:    make(chan struct{}, cfg.Window),
		done:      make(chan struct{}),
		parts:     newPartRefs(partRefsSize),
		pending:   make(map[int32]pendingSubmit),
		changed:   make(chan struct{}),
		inbox:     newInbox(),
	}
	if s.cfg.Now == nil {
		s.cfg.Now = time.Now
	}
	s.mo = newMOAssembler(cfg.MO, s.countMO)
	s.holder = s.mo
	if cfg.MOParts != nil {
		// A lease covers one landing and the marking after it.
		s.holder = &moStoreHolder{st: cfg.MOParts, prov: cfg.Name, cfg: s.mo.cfg, lease: 2 * s.cfg.LandTimeout}
	}
	// A random start makes it unlikely that two processes (or a restart)
	// send two long SMS to the same phone with the same reference, which
	// the handset would mix up.
	s.udhRef.Store(rand.Uint32())
	return s, nil
}

// Run binds, retrying every RebindInterval until the SMSC accepts, and
// holds the session until ctx is done or Close is called; then it unbinds
// and returns. It does not wait for the bind to return: use WaitBound.
//
// gosmpp forces goroutines of its own: NewSession dials, binds and starts
// the session's reader, writer and enquire_link loops, and rebinds a lost
// session by itself. Run is where that starts, so building a client (and
// dropping it, on a failed start-up) runs nothing, and its owner decides
// when the connection lives.
func (s *SMPP) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return fmt.Errorf("%s: Run called twice", s.cfg)
	}
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		s.sweepMO(ctx)
	}()
	s.runInbox()
	s.bindLoop(ctx)
	select {
	case <-ctx.Done():
	case <-s.done:
	}
	defer func() { <-swept }() // sweepMO returns on either
	if err := s.Close(); err != nil {
		return fmt.Errorf("%s: unbind: %w", s.cfg, err)
	}
	return nil
}

// Name implements Provider.
func (s *SMPP) Name() string { return s.cfg.Name }

func (s *SMPP) now() time.Time { return s.cfg.Now() }

// String leaves the password out (see SMPPConfig.String).
func (s *SMPP) String() string { return s.cfg.String() }

// Bound reports whether the session is bound right now.
func (s *SMPP) Bound() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bound
}

// WaitBound waits until the session is bound, for callers that want the
// first Send not to fail while the bind is still under way.
func (s *SMPP) WaitBound(ctx context.Context) error { return s.waitState(ctx, true) }

// Close unbinds and stops rebinding. Sends still waiting for an answer
// fail (transient, ambiguous). A bind attempt under way when Close is
// called closes its session itself when it completes. Before unbinding it
// waits for the inbox (smpp_inbox.go): the message being landed is
// answered once landed (within LandTimeout), the queued ones are answered
// with a temporary error for the SMSC to deliver again.
func (s *SMPP) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		s.inbox.wg.Wait()
		if sess := s.sess.Load(); sess != nil {
			err = sess.Close()
		}
		s.lose(errors.New("client closed"))
	})
	return err
}

func (s *SMPP) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// bindLoop makes the first bind. gosmpp.NewSession binds synchronously and
// gives up on the first failure; only once a session exists does gosmpp
// rebind by itself, so until then retrying is ours. It returns once bound,
// closed, or ctx is done.
func (s *SMPP) bindLoop(ctx context.Context) {
	connector := gosmpp.TRXConnector(s.dial, gosmpp.Auth{
		SMSC: s.cfg.Addr, SystemID: s.cfg.SystemID, Password: s.cfg.Password, SystemType: s.cfg.SystemType,
	})
	settings := gosmpp.Settings{
		EnquireLink: s.cfg.EnquireLink,
		// gosmpp requires ReadTimeout > EnquireLink; an SMSC that does not
		// answer an enquire_link within a submit's patience is gone.
		ReadTimeout: s.cfg.EnquireLink + s.cfg.SubmitTimeout,
		// Always set: it is what resets the write deadline dial put on the
		// connection (see dial).
		WriteTimeout: s.ioTimeout,
		// Every PDU, answered by us: deliver_sm only once landed
		// (smpp_inbox.go).
		OnAllPDU:      s.onAllPDU,
		OnSubmitError: s.onSubmitError,
		OnReceivingError: func(err error) {
			s.log.Debug("smpp read failed", zap.Error(err))
		},
		OnRebindingError: func(err error) {
			s.log.Warn("smpp rebind failed", zap.Error(err))
		},
		OnClosed: s.onClosed,
		OnRebind: s.onRebind,
	}
	for ctx.Err() == nil && !s.closed() {
		s.mu.Lock()
		lost := s.lost
		s.mu.Unlock()
		sess, err := gosmpp.NewSession(connector, settings, s.cfg.RebindInterval)
		if err == nil {
			s.sess.Store(sess)
			if s.closed() { // Close ran before the Store and saw no session
				_ = sess.Close()
				return
			}
			// The session may already have dropped (onClosed ran before we
			// got here); it is gosmpp's to rebind then, not ours to mark.
			s.mu.Lock()
			if s.lost == lost {
				s.setBoundLocked(true)
			}
			s.mu.Unlock()
			s.log.Info("smpp bound")
			return
		}
		// err is a dial error or a BindError carrying the command_status;
		// neither contains the password.
		s.log.Warn("smpp bind failed", zap.Error(err))
		t := time.NewTimer(s.cfg.RebindInterval)
		select {
		case <-s.done:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// dial is the gosmpp.Dialer: TCP or TLS, both bounded by ioTimeout.
func (s *SMPP) dial(addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: s.ioTimeout, KeepAlive: 30 * time.Second}
	var (
		conn net.Conn
		err  error
	)
	if s.cfg.TLS != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, s.cfg.TLS) // handshake within d.Timeout
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	// gosmpp reads the bind_resp without any deadline, so an SMSC that
	// accepts the connection and never answers would hang the bind, and
	// every later rebind, forever. Bound it here; gosmpp replaces both
	// deadlines once bound (before each read, and before each write since
	// WriteTimeout is set).
	_ = conn.SetDeadline(time.Now().Add(s.ioTimeout))
	return &udhGuardConn{Conn: conn, s: s}, nil
}

// onClosed runs when gosmpp loses the session (not on Close), just before
// it starts rebinding.
func (s *SMPP) onClosed(state gosmpp.State) {
	s.log.Warn("smpp session lost", zap.String("state", state.String()))
	s.lose(errors.New("session lost: " + state.String()))
}

// lose marks the session down and fails every submit_sm still waiting: an
// answer can only come on the session that carried it.
func (s *SMPP) lose(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost++
	s.setBoundLocked(false)
	for seq, p := range s.pending {
		p.ch <- outcome{err: err, written: true}
		delete(s.pending, seq)
	}
}

// onRebind runs when gosmpp has bound a new session after losing one.
func (s *SMPP) onRebind() {
	if s.closed() {
		// gosmpp's Session.Close does not stop a rebind already dialling;
		// the session it just bound would live on unowned.
		if sess := s.sess.Load(); sess != nil {
			_ = sess.Transceiver().Close()
		}
		return
	}
	s.mu.Lock()
	s.setBoundLocked(true)
	s.mu.Unlock()
	s.log.Info("smpp rebound")
}

func (s *SMPP) setBoundLocked(b bool) {
	if s.bound != b {
		s.bound = b
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// waitState waits until Bound() == want.
func (s *SMPP) waitState(ctx context.Context, want bool) error {
	for {
		s.mu.Lock()
		b, ch := s.bound, s.changed
		s.mu.Unlock()
		if b == want {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return errors.New("client closed")
		}
	}
}

// onPDU takes the answers to our submit_sm (onAllPDU passes it every
// PDU but enquire_link, unbind, deliver_sm and data_sm).
func (s *SMPP) onPDU(p pdu.PDU, _ bool) {
	switch pp := p.(type) {
	case *pdu.SubmitSMResp:
		id := pp.MessageID
		if pp.CommandStatus == data.ESME_ROK && id != "" {
			id = s.submitID(id)
		}
		s.resolve(pp.SequenceNumber, outcome{status: pp.CommandStatus, messageID: id})
	case *pdu.GenericNack:
		s.resolve(pp.SequenceNumber, outcome{status: pp.CommandStatus, nack: true})
	}
}

// onSubmitError runs when gosmpp could not write a PDU. A failed write
// never got a whole PDU out (Write reports an error only when some bytes
// were not written), and an SMSC acts on nothing less, so the submit_sm
// was not accepted.
func (s *SMPP) onSubmitError(p pdu.PDU, err error) {
	if _, ok := p.(*pdu.SubmitSM); ok {
		s.resolve(p.GetSequenceNumber(), outcome{err: err})
	}
}

// resolve hands o to the Send waiting on seq, if any (a Send that gave up
// has forgotten it). It sends under the lock so that a Send that forgets
// seq afterwards finds o already in its channel.
func (s *SMPP) resolve(seq int32, o outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[seq]
	if !ok {
		return
	}
	delete(s.pending, seq)
	// Record a later part before its receipt can be read: this runs on the
	// reading goroutine, which reads the receipt only after this answer.
	if o.err == nil && !o.nack && o.status == data.ESME_ROK && p.first != "" && o.messageID != "" {
		s.parts.put(o.messageID, p.first)
	}
	p.ch <- o
}

func (s *SMPP) forget(seq int32) {
	s.mu.Lock()
	delete(s.pending, seq)
	s.mu.Unlock()
}

// Send implements Provider. Each part takes a window slot while it waits
// for its submit_sm_resp, for at most SubmitTimeout.
func (s *SMPP) Send(ctx context.Context, req Request) (Result, error) {
	parts, perr := s.build(req)
	if perr != nil {
		return Result{}, perr
	}
	var first string
	for i, p := range parts {
		id, err := s.submitPart(ctx, p, first, req.Expires)
		if err == nil && i == 0 && id == "" {
			// Accepted, but no receipt can ever be matched to it; as with an
			// HTTP answer without an id, retry the same provider.
			err = s.fail(Transient, "", "submit_sm_resp without a message_id", nil, true)
		}
		if err != nil {
			if i > 0 {
				// The phone may already have the first parts: whatever the
				// class, sending again repeats them.
				err.Ambiguous = true
				err.Message += fmt.Sprintf(" (part %d of %d, earlier parts accepted)", i+1, len(parts))
			}
			return Result{}, err
		}
		if i == 0 {
			first = id
		}
	}
	return Result{Provider: s.cfg.Name, Ref: first}, nil
}

// submitPart sets a part's validity_period from what is left of expires
// just before it goes (each part carries its own), refusing an SMS whose
// validity has ended, and submits it.
func (s *SMPP) submitPart(ctx context.Context, p *pdu.SubmitSM, first string, expires time.Time) (string, *Error) {
	vp, expired := s.cfg.Validity.validityPeriod(expires, s.now())
	if expired {
		return "", expiredError(s.cfg.Name)
	}
	p.ValidityPeriod = vp
	return s.submit(ctx, p, first)
}

// submit writes one submit_sm and waits for its answer.
func (s *SMPP) submit(ctx context.Context, p *pdu.SubmitSM, first string) (string, *Error) {
	// Checked first, and again once a slot is ours, because select picks at
	// random among ready cases: a done ctx must not get a submit_sm written
	// only to come back ambiguous.
	if err := ctx.Err(); err != nil {
		return "", s.fail(Transient, "", "not sent", err, false)
	}
	select {
	case s.window <- struct{}{}:
	case <-ctx.Done():
		return "", s.fail(Transient, "", "no window slot", ctx.Err(), false)
	case <-s.done:
		return "", s.fail(Transient, "", "client closed", nil, false)
	}
	defer func() { <-s.window }()
	if err := ctx.Err(); err != nil {
		return "", s.fail(Transient, "", "not sent", err, false)
	}

	sess := s.sess.Load()
	if sess == nil || !s.Bound() {
		return "", s.fail(Transient, "", "not bound", nil, false)
	}
	seq := p.GetSequenceNumber()
	ch := make(chan outcome, 1)
	s.mu.Lock()
	s.pending[seq] = pendingSubmit{ch: ch, first: first}
	s.mu.Unlock()
	// Submit queues p for gosmpp's writer; it fails, with nothing written,
	// only when the session is already closing.
	if err := sess.Transceiver().Submit(p); err != nil {
		s.forget(seq)
		return "", s.fail(Transient, "", "not bound", err, false)
	}

	timer := time.NewTimer(s.cfg.SubmitTimeout)
	defer timer.Stop()
	var cause error
	select {
	case o := <-ch:
		return s.result(o)
	case <-timer.C:
		cause = fmt.Errorf("no submit_sm_resp within %s", s.cfg.SubmitTimeout)
	case <-ctx.Done():
		cause = ctx.Err()
	case <-s.done:
		cause = errors.New("client closed")
	}
	s.forget(seq)
	select {
	case o := <-ch: // answered just as we gave up
		return s.result(o)
	default:
	}
	// Written and unanswered: the SMSC may well have accepted it.
	return "", s.fail(Transient, "", "no answer", cause, true)
}

// result turns a submit_sm's outcome into its message_id or an error.
func (s *SMPP) result(o outcome) (string, *Error) {
	if o.err != nil {
		msg := "submit_sm not written"
		if o.written {
			msg = "no answer"
		}
		return "", s.fail(Transient, "", msg, o.err, o.written)
	}
	if o.status == data.ESME_ROK && !o.nack {
		return o.messageID, nil
	}
	msg := "submit_sm_resp " + o.status.String()
	if o.nack {
		msg = "generic_nack " + o.status.String()
	}
	if d := o.status.Desc(); d != "" {
		msg += ": " + d
	}
	return "", s.fail(smppStatusClass(o.status), fmt.Sprintf("0x%08X", uint32(o.status)), msg, nil, false)
}

func (s *SMPP) fail(c Class, code, msg string, err error, ambiguous bool) *Error {
	return &Error{Provider: s.cfg.Name, Class: c, Code: code, Message: msg, Ambiguous: ambiguous, Err: err}
}

// smppStatusClass maps a submit_sm_resp command_status to a class. The
// SMSC's own load is throttling; what is wrong with this SMS (address,
// length, coding, content) is permanent; everything else, the SMSC's
// failures, bind problems and vendor codes we cannot read, is transient,
// the safe side, as provider.ClassOf.
func smppStatusClass(st data.CommandStatusType) Class {
	switch st {
	case data.ESME_RTHROTTLED, data.ESME_RMSGQFUL:
		return Throttled
	case data.ESME_RINVDSTADR, data.ESME_RINVSRCADR, data.ESME_RINVMSGLEN, statusInvalidDCS,
		data.ESME_RINVESMCLASS, data.ESME_RX_P_APPN, data.ESME_RX_R_APPN, data.ESME_RINVSERTYP:
		return Permanent
	}
	return Transient
}

// build prepares the submit_sm of each part of req. Its errors concern
// the SMS itself, so they are permanent: sending it again cannot help.
func (s *SMPP) build(req Request) ([]*pdu.SubmitSM, *Error) {
	if !utf8.ValidString(req.Text) {
		return nil, s.fail(Permanent, "", "text is not valid UTF-8", sms.ErrInvalidUTF8, false)
	}
	dst, ok := smppNumber(req.To)
	if !ok {
		return nil, s.fail(Permanent, "", "invalid destination address", nil, false)
	}
	srcTON, srcNPI, src := s.source(req.From)
	if len(src) >= data.SM_ADDR_LEN {
		return nil, s.fail(Permanent, "", "source address too long", nil, false)
	}
	dstTON, dstNPI := s.cfg.DestTON, s.cfg.DestNPI
	if dstTON == 0 && dstNPI == 0 {
		dstTON, dstNPI = data.GSM_TON_INTERNATIONAL, data.GSM_NPI_E164
	}

	// Cut where sms.Segments counts rather than let gosmpp split: gosmpp
	// cuts unpacked GSM-7 at 134 characters (not 153 septets) and UCS-2 at
	// 67 runes, so it would send a different number of parts than was
	// counted and billed, and could cut an escape or a surrogate pair.
	texts := sms.SplitParts(req.Text)
	enc := data.UCS2
	if sms.IsGSM(req.Text) {
		// Unpacked septets, one per octet: what SMPP SMSCs expect for
		// data_coding 0 (a 153-septet part is 159 octets with its UDH,
		// within short_message's 254).
		enc = data.GSM7BIT
	}
	if len(texts) > 255 {
		return nil, s.fail(Permanent, "", fmt.Sprintf("%d parts, more than a concatenated SMS can have", len(texts)), nil, false)
	}
	ref := byte(s.udhRef.Add(1))
	out := make([]*pdu.SubmitSM, 0, len(texts))
	for i, text := range texts {
		msg, err := pdu.NewShortMessageWithEncoding(text, enc)
		if err != nil {
			return nil, s.fail(Permanent, "", "encode text", err, false)
		}
		p := pdu.NewSubmitSM().(*pdu.SubmitSM) // assigns the sequence number
		p.SourceAddr = pdu.NewAddressWithTonNpi(srcTON, srcNPI)
		_ = p.SourceAddr.SetAddress(src) // length checked above
		p.DestAddr = pdu.NewAddressWithTonNpi(dstTON, dstNPI)
		_ = p.DestAddr.SetAddress(dst)
		p.RegisteredDelivery = data.SM_SMSC_RECEIPT_REQUESTED
		if len(texts) > 1 {
			// IEI 0x00: 8-bit reference, total, sequence (1-based).
			msg.SetUDH(pdu.UDH{pdu.NewIEConcatMessage(uint8(len(texts)), uint8(i+1), ref)})
			p.EsmClass |= data.SM_UDH_GSM
		}
		p.Message = msg
		out = append(out, p)
	}
	return out, nil
}

// source returns the source address and its TON/NPI (see SMPPConfig).
func (s *SMPP) source(from string) (ton, npi byte, addr string) {
	if s.cfg.SourceTON != 0 || s.cfg.SourceNPI != 0 {
		if n, ok := smppNumber(from); ok {
			from = n
		}
		return s.cfg.SourceTON, s.cfg.SourceNPI, from
	}
	switch {
	case from == "":
		return 0, 0, "" // the SMSC's default sender
	case strings.IndexFunc(from, unicode.IsLetter) >= 0:
		return data.GSM_TON_ALPHANUMERIC, data.GSM_NPI_UNKNOWN, from
	}
	if n, ok := smppNumber(from); ok {
		from = n
	}
	return data.GSM_TON_INTERNATIONAL, data.GSM_NPI_E164, from
}

// smppNumber returns a phone number as SMPP carries it with TON 1: digits,
// without the leading +.
func smppNumber(s string) (string, bool) {
	n := strings.TrimPrefix(s, "+")
	if n == "" || len(n) >= data.SM_ADDR_LEN {
		return "", false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return "", false
		}
	}
	return n, true
}

// partRefs maps the message_id of a later part of a long SMS to the first
// part's, bounded: the oldest entries go first.
type partRefs struct {
	mu   sync.Mutex
	m    map[string]string
	ring [][2]string // insertion order: part, first
	next int
}

func newPartRefs(size int) *partRefs {
	return &partRefs{m: make(map[string]string), ring: make([][2]string, size)}
}

func (p *partRefs) put(part, first string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.ring[p.next]; old[0] != "" && p.m[old[0]] == old[1] {
		delete(p.m, old[0])
	}
	p.ring[p.next] = [2]string{part, first}
	p.next = (p.next + 1) % len(p.ring)
	p.m[part] = first
}

// first returns the first part's id for ref, or ref itself.
func (p *partRefs) first(ref string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.m[ref]; ok {
		return f
	}
	return ref
}
