package intake

import (
	"errors"
	"net/http"

	"github.com/smsfleet/smsfleet/internal/store"
)

// notDurable answers a write that fewer Redis replicas acknowledged than
// SMSFLEET_REDIS_WAIT_REPLICAS: 503 (writeErr adds Retry-After), retry with
// the same transactionId (the message may exist; the retry finds it, writes nothing
// twice and answers once the replicas have it).
func notDurable(err error) error {
	var nr *store.NotReplicatedError
	if !errors.As(err, &nr) {
		return err
	}
	ae := httpError(http.StatusServiceUnavailable,
		"not durable yet: %d of %d Redis replicas acknowledged the write within %s; retry with the same transactionId", nr.Got, nr.Want, nr.Timeout)
	ae.cause = err
	return ae
}
