package metrics

import (
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Build information, the conventional <namespace>_build_info gauge: always
// 1, its labels say which binary answers. Joined on other series
// (`* on (instance) group_left(version) smsfleet_build_info`), it tells
// which release a rise started with, and a mix of versions shows a
// rollout in progress.

// unknown is a label value the binary could not tell (a build without
// VCS stamping: -buildvcs=false, or go run).
const unknown = "unknown"

var (
	versionMu sync.Mutex
	version   = ""
)

// SetVersion records the release the binary was built as (main.version,
// set with -ldflags "-X main.version=..."). Until it is called the
// module's version from the build information stands in.
func SetVersion(v string) {
	versionMu.Lock()
	defer versionMu.Unlock()
	version = v
}

func currentVersion(info *debug.BuildInfo) string {
	versionMu.Lock()
	defer versionMu.Unlock()
	if version != "" {
		return version
	}
	if info != nil && info.Main.Version != "" {
		return info.Main.Version
	}
	return unknown
}

// buildLabels are smsfleet_build_info's labels, from the running binary's
// build information (runtime/debug.ReadBuildInfo) and SetVersion.
func buildLabels(info *debug.BuildInfo, ok bool) prometheus.Labels {
	l := prometheus.Labels{
		"version": currentVersion(info), "revision": unknown, "modified": unknown,
		"goversion": runtime.Version(), "goos": runtime.GOOS, "goarch": runtime.GOARCH,
	}
	if !ok || info == nil {
		return l
	}
	if info.GoVersion != "" {
		l["goversion"] = info.GoVersion
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			l["revision"] = s.Value
		case "vcs.modified":
			l["modified"] = s.Value
		}
	}
	return l
}

var buildInfoDesc = prometheus.NewDesc("smsfleet_build_info",
	"A metric with a constant '1' value labeled by the version, VCS revision (and whether the tree was modified), Go version, OS and architecture smsfleet was built with.",
	[]string{"version", "revision", "modified", "goversion", "goos", "goarch"}, nil)

// buildInfoCollector serves smsfleet_build_info; it reads the version at
// each scrape, so SetVersion may come after registration.
type buildInfoCollector struct{}

func (buildInfoCollector) Describe(ch chan<- *prometheus.Desc) { ch <- buildInfoDesc }

func (buildInfoCollector) Collect(ch chan<- prometheus.Metric) {
	l := buildLabels(debug.ReadBuildInfo())
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1,
		l["version"], l["revision"], l["modified"], l["goversion"], l["goos"], l["goarch"])
}

// BuildInfo serves smsfleet_build_info; Registry has it, and a role with a
// registry of its own (the monitor) registers it there too.
var BuildInfo prometheus.Collector = buildInfoCollector{}

func init() { factory(BuildInfo) }
