package store

// ClusterSafe says whether every script of the store keeps its keys in one
// hash slot, so that it runs on a Redis Cluster (which refuses a script
// whose keys are in several slots with CROSSSLOT). It is false while
// scripts still touch fleet-wide keys (sf:oc, sf:dw, sf:outbox) together
// with per-message ones; internal/fleet refuses to start a role that runs
// them with SMSFLEET_REDIS_MODE=cluster until the cluster-safe key layout
// of issue 15 sets it to true.
const ClusterSafe = false
