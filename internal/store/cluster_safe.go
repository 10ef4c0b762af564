package store

// ClusterSafe says whether the whole fleet runs on a Redis Cluster: every
// script of the store keeps its keys in one hash slot in the tagged layout
// (layout.go, docs/decisions.md#22, checked by TestEveryCallHasOneSlot),
// the rate limiter's keys carry the operator key as their hash tag
// (ratelimit/limiter.go), and asynq's keep their queue's. internal/fleet
// refuses SMSFLEET_REDIS_MODE=cluster while it is false.
const ClusterSafe = true
