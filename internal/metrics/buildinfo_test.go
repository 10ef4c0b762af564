package metrics

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBuildLabels(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "065cefc0ffee"}, {Key: "vcs.modified", Value: "false"}}}
	for _, c := range []struct {
		name    string
		set     string
		info    *debug.BuildInfo
		ok      bool
		version string
		rev     string
		mod     string
		gover   string
	}{
		{"stamped, version set", "1.5.0", stamped, true, "1.5.0", "065cefc0ffee", "false", "go1.26.8"},
		{"stamped, version from the module", "", stamped, true, "v1.4.0", "065cefc0ffee", "false", "go1.26.8"},
		{"no VCS stamp", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "dev", unknown, unknown, runtime.Version()},
		{"no build info", "", nil, false, unknown, unknown, unknown, runtime.Version()},
	} {
		t.Run(c.name, func(t *testing.T) {
			SetVersion(c.set)
			t.Cleanup(func() { SetVersion("") })
			l := buildLabels(c.info, c.ok)
			if l["version"] != c.version || l["revision"] != c.rev || l["modified"] != c.mod || l["goversion"] != c.gover ||
				l["goos"] != runtime.GOOS || l["goarch"] != runtime.GOARCH {
				t.Errorf("labels = %v", l)
			}
		})
	}
}

// TestBuildInfoServed: Registry serves smsfleet_build_info 1 with the
// version SetVersion gave, even when set after registration.
func TestBuildInfoServed(t *testing.T) {
	SetVersion("9.9.9-test")
	t.Cleanup(func() { SetVersion("") })
	want := `
# HELP smsfleet_build_info A metric with a constant '1' value labeled by the version, VCS revision (and whether the tree was modified), Go version, OS and architecture smsfleet was built with.
# TYPE smsfleet_build_info gauge
`
	l := buildLabels(debug.ReadBuildInfo())
	want += `smsfleet_build_info{goarch="` + l["goarch"] + `",goos="` + l["goos"] + `",goversion="` + l["goversion"] + `",modified="` + l["modified"] +
		`",revision="` + l["revision"] + `",version="9.9.9-test"} 1` + "\n"
	if err := testutil.GatherAndCompare(Registry, strings.NewReader(want), "smsfleet_build_info"); err != nil {
		t.Fatal(err)
	}
}
