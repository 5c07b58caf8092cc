package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

func TestMigrateCopyCompareExitCodes(t *testing.T) {
	src := redistest.Start(t, redisserver.Options{Password: "src-token"})
	dst := redistest.StartCluster(t, 2, redisserver.Options{})
	pw := filepath.Join(t.TempDir(), "src-token")
	if err := os.WriteFile(pw, []byte("src-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := redistest.Admin(t, src.Addr, "src-token", "")
	for _, k := range []string{"a", "b", "c"} {
		a.HSet(ctx, "user:"+k, "name", k, "modified_time", "1700000000")
	}
	a.Set(ctx, "counter", 7, 0)
	from := []string{"--from", src.Addr, "--from-password-file", pw, "--to", dst[0].Addr}

	code, out, errOut := run(t, nil, append([]string{"migrate", "copy", "--checkpoint", filepath.Join(t.TempDir(), "cp")}, from...)...)
	if code != ExitOK || !strings.Contains(out, "plan: dump") || !strings.Contains(out, "copied 4/4") || !strings.Contains(errOut, "cluster of 2 masters") {
		t.Fatalf("copy: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = run(t, nil, append([]string{"migrate", "compare"}, from...)...)
	if code != ExitOK || !strings.Contains(out, "differences 0") {
		t.Fatalf("compare: exit %d\n%s", code, out)
	}
	redistest.ClusterClient(t, dst, "", "").HSet(ctx, "user:b", "modified_time", "1700000999")
	code, out, _ = run(t, nil, append([]string{"migrate", "compare"}, from...)...)
	if code != ExitUnhealthy || !strings.Contains(out, "user:b") || !strings.Contains(out, "modified_time") || !strings.Contains(out, "value 1") {
		t.Fatalf("compare after a change: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, nil, append([]string{"migrate", "compare", "--json"}, from...)...)
	if code != ExitUnhealthy || !strings.Contains(out, `"fields": [`) {
		t.Fatalf("compare --json: exit %d\n%s", code, out)
	}
}

func TestMigrateUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "copy", "--from", "127.0.0.1:1"}, "--to is required"},
		{[]string{"migrate", "copy", "--from", "127.0.0.1:1", "--to", "127.0.0.1:1"}, "same endpoint"},
		{[]string{"migrate", "copy", "--from", "127.0.0.1:1", "--to", "127.0.0.1:2", "--mode", "fast"}, "--mode: mode \"fast\" is unknown"},
		{[]string{"migrate", "compare", "--from", "127.0.0.1:1", "--to", "127.0.0.1:2", "--sample", "5", "--match", "a*"}, "cannot be combined with --match"},
		{[]string{"migrate", "follow", "--from", "127.0.0.1:1", "--to", "127.0.0.1:2", "--from-password-file", "/nonexistent"}, "--from-password-file"},
	} {
		code, _, errOut := run(t, nil, tc.args...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}
