// Package traffic is the fleet's live traffic control (issue 18): the
// operator's drains, weights and pauses, kept in Redis and applied by
// every pod within a poll interval without a restart, and the delivery
// quality of each provider, measured fleet-wide over a sliding window.
//
// Keys. The control keys share the hash tag {sf:tc}, so the change script
// (one call, several keys) stays in one Redis Cluster slot; every quality
// bucket of a provider shares that provider's tag; the per-SMS receipt
// clocks are single keys (no tag: they spread over the cluster).
//
//	sf:{sf:tc}:st          hash   the control state: v version; p:{prov}:d "1" drained; p:{prov}:w weight;
//	                              l:{lane} "1" paused; a:{app} "1" paused. Bounded: only configured
//	                              providers, lanes and applications are accepted (admin API).
//	sf:{sf:tc}:au          list   audit entries (JSON, newest first), trimmed to SMSFLEET_ADMIN_AUDIT_MAX
//	sf:{sf:tc}:pods        hash   pod id -> JSON report of what it applied (version, quality clock, seen)
//	sf:{sf:tc}:seen        zset   pod id scored by its last report (unix ms); pods silent for
//	                              podExpiry are removed from both on every report
//	sf:q:{prov}:{b}        hash   quality bucket b (unix ms / bucket width) of a provider: s accepted,
//	                              d delivered within the deadline, l latency sum (ms) of those; TTL
//	                              window + deadline + two buckets
//	sf:q:{prov}:{CC}:{b}   hash   the same for the provider's SMS to phones of country CC (ISO code)
//	sf:q:{prov}:cc         set    the countries the provider's buckets name (ISO codes: bounded); same TTL
//	sf:qr:{prov}:{ref}     string "{unix ms}|{CC}" the provider accepted the SMS with reference ref, or, when
//	                              its receipt came first, "r:{status}:{unix ms}" for the acceptance to
//	                              count; TTL the deadline (a receipt that finds it gone came too late)
package traffic

import (
	"strconv"
	"time"
)

const (
	keyState = "sf:{sf:tc}:st"
	keyAudit = "sf:{sf:tc}:au"
	keyPods  = "sf:{sf:tc}:pods"
	keySeen  = "sf:{sf:tc}:seen"
	pBucket  = "sf:q:{"
	pRecv    = "sf:qr:"
)

// podExpiry is how long a pod that stopped reporting is still listed.
const podExpiry = time.Minute

// Field names in the state hash.
func fieldDrained(prov string) string { return "p:" + prov + ":d" }
func fieldWeight(prov string) string  { return "p:" + prov + ":w" }
func fieldLane(lane string) string    { return "l:" + lane }
func fieldApp(app string) string      { return "a:" + app }

// bucketKey names provider prov's quality bucket b, for the phones of
// country ("" for all of them).
func bucketKey(prov, country string, b int64) string {
	if country != "" {
		return pBucket + prov + "}:" + country + ":" + strconv.FormatInt(b, 10)
	}
	return pBucket + prov + "}:" + strconv.FormatInt(b, 10)
}

// countriesKey names the set of countries provider prov's buckets name.
func countriesKey(prov string) string { return pBucket + prov + "}:cc" }

// recvKey names the receipt clock of the SMS prov accepted as ref.
func recvKey(prov, ref string) string { return pRecv + prov + ":" + ref }

// IsHeartbeat reports whether key is one of the pods' reports, which
// every pod rewrites each poll whatever else happens (a snapshot of the
// keyspace leaves them out, as asynq's own server heartbeats).
func IsHeartbeat(key string) bool { return key == keyPods || key == keySeen }
