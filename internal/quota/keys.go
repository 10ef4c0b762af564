// Package quota enforces the applications' quotas (issue 18): SMS,
// segments and money per UTC day and per UTC month, each with a warning
// threshold (config.Quotas).
//
// The worker reserves what an SMS will use before its provider call, in
// one Lua step that checks every quota of the application for the day and
// the month and increments them all, or none (Reserve): concurrent sends
// from any number of pods never take an application past a limit. The
// step is keyed by the SMS id, so a retry is never counted twice. What is
// counted is what smsfleet tried to send: a reservation is kept when the
// provider fails the SMS, and released only when the SMS never reached
// a provider call because Begin refused it (canceled meanwhile, or its
// frequency cap) (Release). The intake refuses a request whose SMS count
// would exceed an SMS quota already consumed (Usage).
//
// Keys. Every key of an application carries its code as the hash tag, so
// each script's keys share one Redis Cluster slot:
//
//	sf:qt:{app}:d:{YYYYMMDD}        hash   what the application reserved that UTC day: s SMS, g segments, c money (millionths); 3 days
//	sf:qt:{app}:m:{YYYYMM}          hash   the same for the UTC month; 63 days
//	sf:qv:{app}:{sms id}            string the SMS's reservation "YYYYMMDD|s|g|c" (released or kept by it); 35 days
//	sf:qw:{app}:{quota}:{period}    string the warning of a quota for a period: "p" pending (2 min: a pod
//	                                       that died before publishing it lets the next reservation emit
//	                                       it again), "s" published (until the period ends plus a day)
package quota

import (
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
)

const (
	pTotals  = "sf:qt:"
	pReserve = "sf:qv:"
	pWarning = "sf:qw:"
)

// TTLs: a period's totals outlive the period (GET /api/v1/quotas reads
// the current one only); a reservation outlives every retry of its SMS
// (validity is at most days); a pending warning waits for its publisher.
const (
	dayTTL         = 3 * 24 * time.Hour
	monthTTL       = 63 * 24 * time.Hour
	reservationTTL = 35 * 24 * time.Hour
	pendingTTL     = 2 * time.Minute
)

func tag(app string) string { return "{" + app + "}" }

// dayOf and monthOf name the UTC periods of t.
func dayOf(t time.Time) string   { return t.UTC().Format("20060102") }
func monthOf(t time.Time) string { return t.UTC().Format("200601") }

func dayKey(app, day string) string     { return pTotals + tag(app) + ":d:" + day }
func monthKey(app, month string) string { return pTotals + tag(app) + ":m:" + month }
func reservationKey(app, id string) string {
	return pReserve + tag(app) + ":" + id
}

// periodOf is the period a quota of kind k counts in at t (YYYYMMDD or
// YYYYMM).
func periodOf(k config.QuotaKind, t time.Time) string {
	if k.Monthly() {
		return monthOf(t)
	}
	return dayOf(t)
}

func warningKey(app string, k config.QuotaKind, period string) string {
	return pWarning + tag(app) + ":" + k.String() + ":" + period
}

// PeriodEnd is when the period of a quota of kind k that holds t ends:
// the next UTC midnight, or the first of the next UTC month.
func PeriodEnd(k config.QuotaKind, t time.Time) time.Time {
	t = t.UTC()
	if k.Monthly() {
		return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
}

// warningTTL keeps a published warning until its period ended, and a day.
func warningTTL(k config.QuotaKind, t time.Time) time.Duration {
	return PeriodEnd(k, t).Sub(t) + 24*time.Hour
}

// threshold is the used amount at which quota q warns: warn_percent of
// its limit, rounded up.
func threshold(q config.Quota) int64 {
	return (q.Limit*int64(q.WarnPercent) + 99) / 100
}
