package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/migrate"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/syncbuf"
	"github.com/redisha/redisha/internal/testbed/wait"
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
	from := []string{"--from", src.Addr, "--from-password-file", pw, "--from-allow-plaintext-auth", "--to", dst[0].Addr}

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
	code, out, _ = run(t, nil, append([]string{"migrate", "compare", "--repair", "--quiet-window", "100ms"}, from...)...)
	if code != ExitOK || !strings.Contains(out, "repair: copied 1 keys again") || !strings.Contains(out, "quiet window 100ms reached") {
		t.Fatalf("compare --repair: exit %d\n%s", code, out)
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
		// A token never goes out in clear unless asked (run sets REDISHA_TLS=false, as a plain-text bed would).
		{[]string{"migrate", "copy", "--from", "127.0.0.1:1", "--to", "127.0.0.1:2", "--to-password-file", pwFile(t)}, "--to-tls is off, so the target's AUTH token would cross the network in clear"},
	} {
		code, _, errOut := run(t, nil, tc.args...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// A standalone source with several databases is copied and compared in
// every one of them (db 0 alone used to report 100% and 0 differences).
func TestMigrateEveryDatabase(t *testing.T) {
	src := redistest.Start(t, redisserver.Options{})
	dst := redistest.Start(t, redisserver.Options{})
	ctx := context.Background()
	for _, db := range []int{0, 1, 3} {
		c := redis.NewClient(&redis.Options{Addr: src.Addr, DB: db})
		t.Cleanup(func() { _ = c.Close() })
		if err := c.Set(ctx, "k", "db"+strconv.Itoa(db), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	from := []string{"--from", src.Addr, "--to", dst.Addr}
	code, out, errOut := run(t, nil, append([]string{"migrate", "copy"}, from...)...)
	if code != ExitOK || !strings.Contains(out, "db 3: copied 1/1") {
		t.Fatalf("copy: exit %d\n%s\n%s", code, out, errOut)
	}
	t3 := redis.NewClient(&redis.Options{Addr: dst.Addr, DB: 3})
	t.Cleanup(func() { _ = t3.Close() })
	if v, err := t3.Get(ctx, "k").Result(); v != "db3" {
		t.Fatalf("target db 3: %q %v", v, err)
	}
	if code, out, _ = run(t, nil, append([]string{"migrate", "compare"}, from...)...); code != ExitOK {
		t.Fatalf("compare: exit %d\n%s", code, out)
	}
	t3.Set(ctx, "k", "changed", 0)
	if code, out, _ = run(t, nil, append([]string{"migrate", "compare"}, from...)...); code != ExitUnhealthy || !strings.Contains(out, "db 3:") {
		t.Fatalf("compare after a change in db 3: exit %d\n%s", code, out)
	}
	// A cluster target has db 0 only: refused, naming the databases.
	cl := redistest.StartCluster(t, 2, redisserver.Options{})
	code, _, errOut = run(t, nil, "migrate", "copy", "--from", src.Addr, "--to", cl[0].Addr)
	if code != ExitUsage || !strings.Contains(errOut, "db 1 (1 keys), db 3 (1 keys)") || !strings.Contains(errOut, "--from-db") {
		t.Fatalf("multi-db source to a cluster: exit %d\n%s", code, errOut)
	}
}

// The plan names both sides by address and run id; a target holding keys
// is refused unless --allow-nonempty-target; the same server under
// another address is refused before anything is written.
func TestMigrateCopyInterlocks(t *testing.T) {
	src := redistest.Start(t, redisserver.Options{})
	dst := redistest.Start(t, redisserver.Options{})
	ctx := context.Background()
	redistest.Admin(t, src.Addr, "", "").Set(ctx, "a", "source", 0)
	redistest.Admin(t, dst.Addr, "", "").Set(ctx, "a", "target", 0)
	from := []string{"migrate", "copy", "--from", src.Addr, "--to", dst.Addr}
	code, _, errOut := run(t, nil, from...)
	if code != ExitUsage || !strings.Contains(errOut, "already holds 1 keys") || !strings.Contains(errOut, "1 of 1 sampled") || !strings.Contains(errOut, "--allow-nonempty-target") {
		t.Fatalf("non-empty target: exit %d\n%s", code, errOut)
	}
	if v, _ := redistest.Admin(t, dst.Addr, "", "").Get(ctx, "a").Result(); v != "target" {
		t.Fatalf("the refused copy wrote: %q", v)
	}
	code, _, errOut = run(t, nil, append(from, "--allow-nonempty-target")...)
	srcID, _ := redistest.Admin(t, src.Addr, "", "").Info(ctx, "server").Result()
	if code != ExitOK || !strings.Contains(errOut, "run id ") || !strings.Contains(srcID, strings.SplitN(strings.SplitN(errOut, "run id ", 2)[1], "\n", 2)[0]) {
		t.Fatalf("allowed copy: exit %d\n%s", code, errOut)
	}
	_, port, _ := strings.Cut(src.Addr, ":")
	code, _, errOut = run(t, nil, "migrate", "copy", "--from", src.Addr, "--to", "localhost:"+port)
	if code != ExitUsage || !strings.Contains(errOut, "same server") {
		t.Fatalf("same server under another name: exit %d\n%s", code, errOut)
	}
}

// copy --follow keeps following after a copy with problems, and says at
// the end (exit 1) that keys were not copied.
func TestMigrateCopyFollowGoesOnAfterProblems(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	d := redistest.Start(t, redisserver.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := redistest.Admin(t, s.Addr, "", "")
	a.Set(ctx, "plain", "v", 0)
	a.XAdd(ctx, &redis.XAddArgs{Stream: "events", Values: []string{"a", "1"}}) // not copied type by type
	src, err := migrate.Open(ctx, "source", redisconn.Config{Addr: s.Addr}, migrate.SideOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := migrate.Open(ctx, "target", redisconn.Config{Addr: d.Addr}, migrate.SideOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var stderr syncbuf.Buffer
	env := Env{Stdout: &stderr, Stderr: &stderr}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- runCopy(fctx, env, []sidePair{{src: src, dst: dst}}, migrate.CopyOptions{Mode: migrate.ModeTyped}, copyFlags{follow: true})
	}()
	waitOutput(t, &stderr, "copy done with problems")
	a.Set(ctx, "after-copy", "v", 0)
	tc := redistest.Admin(t, d.Addr, "", "")
	wait.For(t, 30*time.Second, "a change after the copy on the target", func() bool { return tc.Get(ctx, "after-copy").Val() == "v" })
	stop()
	err = <-done
	var fe *FindingError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "not copied") {
		t.Fatalf("end: %v; want a finding about the key not copied", err)
	}
}

// waitOutput waits up to 30 s for want in buf.
func waitOutput(t *testing.T, buf *syncbuf.Buffer, want string) {
	t.Helper()
	if !wait.Until(context.Background(), 30*time.Second, func() bool { return strings.Contains(buf.String(), want) }) {
		t.Fatalf("no %q in:\n%s", want, buf.String())
	}
}

// Resuming copy --follow from a checkpoint loses nothing changed while
// nothing followed: changed keys are copied again and deleted ones deleted;
// a key that was on the target before the first run is left alone.
func TestMigrateCopyFollowResumeClosesTheGap(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	d := redistest.Start(t, redisserver.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := redistest.Admin(t, s.Addr, "", "")
	for i := 0; i < 100; i++ {
		a.Set(ctx, "k:"+strconv.Itoa(i), "v1", 0)
	}
	tc := redistest.Admin(t, d.Addr, "", "")
	cp := filepath.Join(t.TempDir(), "cp.json")
	from := []string{"migrate", "copy", "--from", s.Addr, "--to", d.Addr, "--checkpoint", cp}
	if code, out, errOut := run(t, nil, from...); code != ExitOK {
		t.Fatalf("copy: exit %d\n%s\n%s", code, out, errOut)
	}
	// Down: the source changes, nothing follows it.
	a.Set(ctx, "k:1", "v2", 0)
	a.Del(ctx, "k:2")
	src, err := migrate.Open(ctx, "source", redisconn.Config{Addr: s.Addr}, migrate.SideOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := migrate.Open(ctx, "target", redisconn.Config{Addr: d.Addr}, migrate.SideOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var out syncbuf.Buffer
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- runCopy(fctx, Env{Stdout: &out, Stderr: &out}, []sidePair{{src: src, dst: dst}},
			migrate.CopyOptions{Checkpoint: cp}, copyFlags{follow: true})
	}()
	waitOutput(t, &out, "copy done")
	wait.For(t, 30*time.Second, "the gap closed (k:1 changed, k:2 deleted on the target)", func() bool {
		return tc.Exists(ctx, "k:2").Val() == 0 && tc.Get(ctx, "k:1").Val() == "v2"
	})
	stop()
	if err := <-done; err != nil {
		t.Fatalf("end: %v", err)
	}

	// A target that held its own keys before the first run: the resume
	// copies again but deletes nothing of the target's.
	d2 := redistest.Start(t, redisserver.Options{})
	t2 := redistest.Admin(t, d2.Addr, "", "")
	t2.Set(ctx, "k:foreign", "mine", 0)
	cp2 := filepath.Join(t.TempDir(), "cp2.json")
	if code, _, errOut := run(t, nil, "migrate", "copy", "--from", s.Addr, "--to", d2.Addr, "--checkpoint", cp2, "--allow-nonempty-target"); code != ExitOK {
		t.Fatalf("copy: exit %d\n%s", code, errOut)
	}
	dst2, err := migrate.Open(ctx, "target", redisconn.Config{Addr: d2.Addr}, migrate.SideOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst2.Close()
	var out2 syncbuf.Buffer
	fctx2, stop2 := context.WithCancel(ctx)
	go func() {
		done <- runCopy(fctx2, Env{Stdout: &out2, Stderr: &out2}, []sidePair{{src: src, dst: dst2}},
			migrate.CopyOptions{Checkpoint: cp2}, copyFlags{follow: true, allowNonEmpty: true})
	}()
	waitOutput(t, &out2, "copy done")
	stop2()
	<-done
	if t2.Get(ctx, "k:foreign").Val() != "mine" || !strings.Contains(out2.String(), "NOT deleted") {
		t.Fatalf("the target's own key: %q\n%s", t2.Get(ctx, "k:foreign").Val(), out2.String())
	}
}

// pwFile is a password file a test may pass (mode 0600).
func pwFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("secret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
