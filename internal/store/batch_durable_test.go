package store

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// CreateMessages is CreateMessage for a group in one round trip: each
// message keeps its own result (a new message, a transactionId replay
// returning the earlier code, a request of its own that is refused), and
// with WithReplicas the group's one WAIT makes every written message
// acknowledged by the replica when the call returns, or each one's result
// a NotReplicatedError with its code (written on the primary).
func TestCreateMessagesKeepsEachRequestsResultAndDurability(t *testing.T) {
	r := testenv.NewRedis(t)
	replica, stopReplica := startReplica(t, r)
	st := New(r.Client(t), 24*time.Hour, WithReplicas(1, 2*time.Second))
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	req := func(code, txn string, phones ...string) CreateRequest {
		return CreateRequest{Message: &Message{App: "SHOP1-00001", Code: code, Type: sms.OTP, Content: `"x"`, SendAt: st.now(), Validity: time.Hour,
			ChunkSize: 100, Direct: true, TransactionID: txn}, Audiences: []Audience{{Phones: phones, SendAt: st.now()}}}
	}
	first := st.CreateMessages(ctx, []CreateRequest{req("GRPC-00000000-10000000", "t1", "+4915112000040")})
	if first[0].Err != nil || !first[0].Created {
		t.Fatalf("first write %+v", first[0])
	}
	var group []CreateRequest
	for i := range 5 {
		group = append(group, req("GRPC-00000000-"+strconv.Itoa(20000000+i), "", "+491511200005"+strconv.Itoa(i)))
	}
	group = append(group, req("GRPC-00000000-30000000", "t1", "+4915112000040"))                 // a replay of t1
	group = append(group, req("GRPC-00000000-30000001", "", "+4915112000041", "+4915112000042")) // direct with two phones
	res := st.CreateMessages(ctx, group)
	for i := range 5 {
		code := group[i].Message.Code
		if res[i].Err != nil || !res[i].Created || res[i].Code != code {
			t.Fatalf("message %d: %+v", i, res[i])
		}
		id := MustSMSID(t, st, code, group[i].Message.To)
		if n, err := replica.Exists(ctx, msgKey(code), smsKey(id)).Result(); err != nil || n != 2 {
			t.Fatalf("accepted message %s: %d of its 2 keys on the replica (%v)", code, n, err)
		}
	}
	if r := res[5]; r.Err != nil || r.Created || r.Code != "GRPC-00000000-10000000" || !group[5].Message.ReplayPending {
		t.Fatalf("replay %+v (pending %v), want the first code, not created, enqueue pending", r, group[5].Message.ReplayPending)
	}
	if r := res[6]; r.Err == nil || r.Created {
		t.Fatalf("a direct message with two phones: %+v, want its own error", r)
	}

	stopReplica()
	st.waitTimeout = 100 * time.Millisecond
	res = st.CreateMessages(ctx, []CreateRequest{req("GRPC-00000000-40000000", "", "+4915112000060"), req("GRPC-00000000-40000001", "", "+4915112000061")})
	for i, r := range res {
		var nr *NotReplicatedError
		if !errors.As(r.Err, &nr) || nr.Got != 0 || !r.Created || r.Code != "GRPC-00000000-4000000"+strconv.Itoa(i) {
			t.Fatalf("write %d with the replica gone: %+v, want NotReplicatedError with its code", i, r)
		}
	}
}
