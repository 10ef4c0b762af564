// Package charttest holds the tests of the smsfleet Helm chart (../smsfleet):
// they lint it, render it the way `helm template` does with Helm's own
// packages, decode every manifest strictly into the Kubernetes API types and
// check what matters (roles, probes, security contexts, checksums, Secrets,
// autoscalers, Prometheus Operator objects) plus the values schema. The
// chart's bitnami dependencies are replaced by local stubs (testdata/stubs),
// it is also rendered as the subchart of testdata/umbrella, every ci/ value
// set is linted and rendered, and, when helm is on PATH, the real CLI lints
// and templates it (helmcli_test.go; required under CI=true).
//
// It is its own Go module (charts/go.mod) so the service's module does not
// depend on Helm. Run: cd charts && go test ./...
package charttest
