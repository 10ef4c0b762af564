package worker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// phoneProvider is a stub provider (a real HTTP server, Twilio-style)
// that answers each phone in turn from its own list of answers (the last
// repeats; none: OK), and can hold one call of a phone until released, so
// a test can run something else while that call is in flight.
type phoneProvider struct {
	*stub
	mu      sync.Mutex
	answers map[string][]answer
	calls   map[string]int
	hold    map[string]chan struct{}
	entered chan string
}

func newPhoneProvider(t *testing.T, name string) *phoneProvider {
	t.Helper()
	p := &phoneProvider{stub: newStub(t, name, answerOK, 0), answers: map[string][]answer{}, calls: map[string]int{},
		hold: map[string]chan struct{}{}, entered: make(chan string, 16)}
	p.srv.Config.Handler = http.HandlerFunc(p.serveByPhone)
	return p
}

// holdNext makes the next call for phone wait until the returned func is
// called; the call's arrival is announced on p.entered.
func (p *phoneProvider) holdNext(phone string) (release func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	p.hold[phone] = ch
	p.mu.Unlock()
	return func() { close(ch) }
}

func (p *phoneProvider) callsTo(phone string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[phone]
}

func (p *phoneProvider) serveByPhone(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(raw))
	to := form.Get("To")
	p.mu.Lock()
	n := p.calls[to]
	p.calls[to]++
	a := answerOK
	if list := p.answers[to]; len(list) > 0 {
		a = list[min(n, len(list)-1)]
	}
	hold := p.hold[to]
	delete(p.hold, to)
	p.mu.Unlock()
	if hold != nil {
		p.entered <- to
		<-hold
	}
	w.Header().Set("Content-Type", "application/json")
	switch a {
	case answerOK:
		key := r.Header.Get("Idempotency-Key")
		w.WriteHeader(http.StatusCreated)
		_, _ = fmt.Fprintf(w, `{"sid":%q}`, refOf(p.name, key))
	default:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"code":20500,"message":"service unavailable"}`)
	}
}

// batchFixture is a fixture whose sender runs batch tasks: follow-ups go
// to an asynq client on the fixture's Redis, read back with an inspector.
type batchFixture struct {
	*fixture
	p    *phoneProvider
	insp *asynq.Inspector
}

func newBatchFixture(t *testing.T) *batchFixture {
	t.Helper()
	p := newPhoneProvider(t, "a")
	f := newFixtureBreaker(t, config.Breaker{Window: time.Minute, MinRequests: 100, FailureRatio: 1, OpenTimeout: time.Hour, Probes: 1}, providers(p.stub)...)
	f.s.Tasks = asynq.NewClientFromRedisClient(f.st.Redis())
	f.s.RetryDelay = retryDelay(Backoff(time.Second, time.Minute))
	f.s.SendTimeout = 7 * time.Second
	return &batchFixture{fixture: f, p: p, insp: asynq.NewInspectorFromRedisClient(f.st.Redis())}
}

// batchTask is the batch task of the SMS ids (to phones) on the
// transactional lane, in the shard of its id (b.s.Shards).
func (b *batchFixture) batchTask(ids, phones []string) *asynq.Task {
	refs := make([]tasks.SendPayload, len(ids))
	for i := range ids {
		refs[i] = tasks.SendPayload{ID: ids[i], App: testApp, Phone: phones[i]}
	}
	return tasks.SendBatch(testBatchID, refs, sms.Transactional, b.s.Shards, 16, time.Minute)
}

// testBatchID is batchTask's task id.
const testBatchID = "sb:test"

// followUp reads SMS id's own send task, in the SMS's shard, or nil.
func (b *batchFixture) followUp(id string) *asynq.TaskInfo {
	ti, err := b.insp.GetTaskInfo(b.s.Shards.Queue(sms.Transactional.Lane(), id), id)
	if err != nil {
		return nil
	}
	return ti
}

// runFollowUp runs SMS id's follow-up task as asynq would hand it to the
// sms:send handler.
func (b *batchFixture) runFollowUp(id string) error {
	b.t.Helper()
	ti := b.followUp(id)
	if ti == nil {
		b.t.Fatalf("no follow-up task for %s", id)
	}
	return b.s.ProcessTask(b.ctx, asynq.NewTask(ti.Type, ti.Payload))
}

func TestBatchSendsEachSMSOnceAndFollowsUpOnlyTheUnfinished(t *testing.T) {
	b := newBatchFixture(t)
	ok, down, out := "+4915112000071", "+4915112000072", "+4915112000073"
	b.p.answers[down] = []answer{answerDown}
	ids := []string{b.create(msg{}, ok), b.create(msg{}, down), b.create(msg{}, out)}
	if _, err := b.st.AddOptOut(b.ctx, testApp, out, ""); err != nil {
		t.Fatal(err)
	}
	if err := b.s.ProcessBatch(b.ctx, b.batchTask(ids, []string{ok, down, out})); err != nil {
		t.Fatalf("ProcessBatch = %v, want nil (every SMS settled or followed up)", err)
	}
	if r := b.rec(ids[0]); r.Status != sms.Sent || r.ProviderRef != refOf("a", ids[0]) || b.p.callsTo(ok) != 1 || b.followUp(ids[0]) != nil {
		t.Fatalf("accepted SMS: %+v, %d calls, follow-up %v; want sent once, no follow-up", r, b.p.callsTo(ok), b.followUp(ids[0]))
	}
	if r := b.rec(ids[2]); r.Status != sms.Suppressed || b.p.callsTo(out) != 0 || b.followUp(ids[2]) != nil {
		t.Fatalf("opted-out SMS: %+v, want suppressed without a call or follow-up", r)
	}
	// The transient failure is the SMS's own task now, as asynq would
	// have retried it: the retry counted (1 of the budget) and backed off.
	ti := b.followUp(ids[1])
	budget := tasks.SendRetryBudget(b.s.MaxAttempts)
	if ti == nil || ti.Type != tasks.TypeSend || ti.State != asynq.TaskStateScheduled || ti.MaxRetry != budget-1 || ti.Timeout != 7*time.Second {
		t.Fatalf("follow-up of the failed SMS: %+v, want a scheduled sms:send with %d retries left", ti, budget-1)
	}
	if p := tasks.ParseSend(ti.Payload); p != (tasks.SendPayload{ID: ids[1], App: testApp, Phone: down, Retried: 1}) {
		t.Fatalf("follow-up payload %+v", p)
	}
	if r := b.rec(ids[1]); r.Status != sms.Sending || r.Attempts != 1 {
		t.Fatalf("failed SMS %+v, want sending after one attempt", r)
	}
	if c := b.counts(ids[0]); c[sms.Sent] != 1 {
		t.Fatalf("counts %v", c)
	}
	// The follow-up finishes it.
	b.p.answers[down] = nil
	if err := b.runFollowUp(ids[1]); err != nil {
		t.Fatal(err)
	}
	if r := b.rec(ids[1]); r.Status != sms.Sent || r.Attempts != 2 || b.p.callsTo(down) != 2 {
		t.Fatalf("after its follow-up: %+v, %d calls", r, b.p.callsTo(down))
	}
}

// The crash point between a batch's follow-ups and its completion: the
// batch wrote SMS B's follow-up and died before asynq marked the batch
// done, so asynq runs the batch again (OrphanRecoverer) while B's own
// task is running, its provider call in flight. The re-run must leave B
// alone: calling B's provider again would put B on the phone twice at any
// provider that does not deduplicate. (Without the ownership check in
// ProcessBatch, the re-run loads B, still sending, and calls again.)
func TestBatchRerunLeavesAnSMSToItsRunningFollowUp(t *testing.T) {
	b := newBatchFixture(t)
	okPhone, retryPhone := "+4915112000081", "+4915112000082"
	b.p.answers[retryPhone] = []answer{answerDown, answerOK}
	ids := []string{b.create(msg{}, okPhone), b.create(msg{}, retryPhone)}
	batch := b.batchTask(ids, []string{okPhone, retryPhone})
	if err := b.s.ProcessBatch(b.ctx, batch); err != nil {
		t.Fatal(err)
	}
	release := b.p.holdNext(retryPhone)
	done := make(chan error, 1)
	go func() { done <- b.runFollowUp(ids[1]) }()
	<-b.p.entered // the follow-up's call is at the provider

	if err := b.s.ProcessBatch(b.ctx, batch); err != nil { // asynq's redelivery
		t.Fatalf("re-run = %v", err)
	}
	calls := b.p.callsTo(retryPhone)
	release()
	if err := <-done; err != nil {
		t.Fatalf("follow-up = %v", err)
	}
	if calls != 2 || b.p.callsTo(okPhone) != 1 {
		t.Fatalf("provider calls: %d for the followed-up SMS (want 2: the failure, its follow-up), %d for the sent one (want 1)", calls, b.p.callsTo(okPhone))
	}
	if r := b.rec(ids[1]); r.Status != sms.Sent || r.Attempts != 2 {
		t.Fatalf("followed-up SMS %+v, want sent after 2 attempts", r)
	}
	if c := b.counts(ids[0]); c[sms.Sent] != 1 {
		t.Fatalf("first message counts %v", c)
	}
	if c := b.counts(ids[1]); c[sms.Sent] != 1 || c[sms.Sending] != 0 {
		t.Fatalf("second message counts %v", c)
	}
}

// An SMS of an intake batch that got a task of its own before the batch
// ran (the outbox sweeper's repair after an intake crashed between the
// enqueue and the outbox's clearing) belongs to that task: the batch
// sends the others and leaves it queued for its task.
func TestBatchLeavesAnSMSWithItsOwnTaskToIt(t *testing.T) {
	b := newBatchFixture(t)
	p1, p2 := "+4915112000091", "+4915112000092"
	ids := []string{b.create(msg{}, p1), b.create(msg{}, p2)}
	own := tasks.SendFor(tasks.SendPayload{ID: ids[1], App: testApp, Phone: p2}, sms.Transactional, 1, 16, time.Minute)
	if _, err := b.s.Tasks.Enqueue(own); err != nil {
		t.Fatal(err)
	}
	if err := b.s.ProcessBatch(b.ctx, b.batchTask(ids, []string{p1, p2})); err != nil {
		t.Fatal(err)
	}
	if b.rec(ids[0]).Status != sms.Sent || b.p.callsTo(p2) != 0 || b.rec(ids[1]).Status != sms.Queued {
		t.Fatalf("batch: first %s, second %s with %d calls; want the second left queued to its own task", b.rec(ids[0]).Status, b.rec(ids[1]).Status, b.p.callsTo(p2))
	}
	if err := b.runFollowUp(ids[1]); err != nil {
		t.Fatal(err)
	}
	if b.rec(ids[1]).Status != sms.Sent || b.p.callsTo(p2) != 1 {
		t.Fatalf("own task: %s after %d calls", b.rec(ids[1]).Status, b.p.callsTo(p2))
	}
}

// A batch that runs again after all its SMS were settled (a crash after
// the last write, before asynq marked it done) sends nothing: load
// refuses SMS that are no longer queued or sending.
func TestBatchRerunAfterEverySMSSettledSendsNothing(t *testing.T) {
	b := newBatchFixture(t)
	p1, p2 := "+4915112000101", "+4915112000102"
	ids := []string{b.create(msg{}, p1), b.create(msg{}, p2)}
	batch := b.batchTask(ids, []string{p1, p2})
	for range 2 {
		if err := b.s.ProcessBatch(b.ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if b.p.callsTo(p1) != 1 || b.p.callsTo(p2) != 1 || b.counts(ids[0])[sms.Sent] != 1 || b.counts(ids[1])[sms.Sent] != 1 {
		t.Fatalf("calls %d, %d; counts %v %v", b.p.callsTo(p1), b.p.callsTo(p2), b.counts(ids[0]), b.counts(ids[1]))
	}
}

// A rate-limited SMS of a batch goes to a follow-up at once, uncounted,
// even where a task of its own would wait for the limiter inline: the
// batch's other SMS, and the lane's slot, must not wait for one
// operator's budget.
func TestBatchDefersARateLimitedSMSWithoutWaiting(t *testing.T) {
	b := newBatchFixture(t)
	r := b.withRates("DE:T-Mobile=0.001/1")
	r.MaxInlineWait, r.MaxWaiters = 2*time.Hour, 1 // a single send would wait inline
	de1, de2 := "+4915112000111", "+4915112000112"
	ids := []string{b.create(msg{}, de1), b.create(msg{}, de2)}
	// Bounds the failure mode only (an inline wait of ~1000 s).
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := b.s.ProcessBatch(ctx, b.batchTask(ids, []string{de1, de2})); err != nil {
		t.Fatal(err)
	}
	ti := b.followUp(ids[1])
	if b.rec(ids[0]).Status != sms.Sent || ti == nil || tasks.ParseSend(ti.Payload).Retried != 0 || ti.State != asynq.TaskStateScheduled {
		t.Fatalf("first %s; follow-up of the limited one %+v, want scheduled with no retry counted", b.rec(ids[0]).Status, ti)
	}
	if rec := b.rec(ids[1]); rec.Status != sms.Queued || rec.Attempts != 0 {
		t.Fatalf("limited SMS %+v, want queued without an attempt", rec)
	}
}

func TestRetryDelayContinuesACarriedRetryCount(t *testing.T) {
	rd := retryDelay(Backoff(time.Second, time.Hour))
	for _, c := range []struct {
		retried, n int
		lo, hi     time.Duration
	}{
		{0, 0, 500 * time.Millisecond, time.Second},
		{3, 0, 4 * time.Second, 8 * time.Second},
		{3, 2, 16 * time.Second, 32 * time.Second},
	} {
		task := tasks.SendFor(tasks.SendPayload{ID: "X.1", App: testApp, Phone: "+4915112000001", Retried: c.retried}, sms.OTP, 1, 3, time.Minute)
		if d := rd(c.n, fmt.Errorf("boom"), task); d < c.lo || d > c.hi {
			t.Errorf("retried %d, n %d: delay %s, want %s..%s", c.retried, c.n, d, c.lo, c.hi)
		}
	}
}

// A batch records each acceptance as its provider call returns, not after
// the batch's slowest call: a worker killed while one call hangs must not
// leave the others' acceptances unrecorded (each would be a second call,
// same idempotency key, on the batch's re-run).
func TestBatchRecordsAnAcceptanceWithoutWaitingForASlowerCall(t *testing.T) {
	b := newBatchFixture(t)
	slow, quick := "+4915112000121", "+4915112000122"
	ids := []string{b.create(msg{}, slow), b.create(msg{}, quick)}
	release := b.p.holdNext(slow)
	done := make(chan error, 1)
	go func() { done <- b.s.ProcessBatch(b.ctx, b.batchTask(ids, []string{slow, quick})) }()
	<-b.p.entered // the slow call is in flight
	waitFor(t, "the quick SMS's acceptance recorded while the slow call is in flight", func() bool {
		return b.rec(ids[1]).Status == sms.Sent
	})
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if r := b.rec(id); r.Status != sms.Sent || b.counts(id)[sms.Sent] != 1 {
			t.Fatalf("%s: %+v, counts %v", id, r, b.counts(id))
		}
	}
}
