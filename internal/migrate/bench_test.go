package migrate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/syncbuf"
)

// BenchmarkCopyMethods copies one mixed data set (strings, hashes, lists,
// sets, sorted sets; a third with TTLs) between two loopback servers with
// each method, each in its own process so that peak memory (max RSS) is
// comparable:
//
//   - redisha: migrate.Copy with its defaults;
//   - seed: the seed's loop — SCAN COUNT 1000, then DUMP, PTTL and RESTORE
//     REPLACE key by key, one round trip each, pages shared by as many
//     workers as cores (its Python multiprocessing), reimplemented in Go;
//   - redisshake-default / redisshake-count1000: RedisShake's scan reader
//     with its defaults (count = 1) and with count = 1000, when
//     REDISSHAKE_BIN names a redis-shake binary (built outside this
//     repository).
//
// After each run every key, value and TTL (within 1 s) is verified with
// Compare. Keys: REDISHA_BENCH_KEYS (default 200000). Run with
// go test -run '^$' -bench CopyMethods -benchtime 1x ./internal/migrate/
func BenchmarkCopyMethods(b *testing.B) {
	n := 200000
	if v, err := strconv.Atoi(os.Getenv("REDISHA_BENCH_KEYS")); err == nil && v > 0 {
		n = v
	}
	srcSrv := redistest.Start(b, redisserver.Options{})
	dstSrv := redistest.Start(b, redisserver.Options{})
	src := open(b, "source", redisconn.Config{Addr: srcSrv.Addr})
	dst := open(b, "target", redisconn.Config{Addr: dstSrv.Addr})
	fill(b, src.Client, "bench", n)

	type method struct {
		name string
		cmd  func(dir string) *exec.Cmd
	}
	child := func(mode string) func(string) *exec.Cmd {
		return func(string) *exec.Cmd {
			c := exec.Command(os.Args[0], "-test.run=^TestBenchChild$", "-test.count=1")
			c.Env = append(os.Environ(), "REDISHA_BENCH_CHILD="+mode, "REDISHA_BENCH_SRC="+srcSrv.Addr, "REDISHA_BENCH_DST="+dstSrv.Addr)
			return c
		}
	}
	methods := []method{{"redisha", child("redisha")}, {"seed", child("seed")}}
	if bin := os.Getenv("REDISSHAKE_BIN"); bin != "" {
		for _, count := range []int{0, 1000} {
			name := "redisshake-default"
			if count > 0 {
				name = "redisshake-count" + strconv.Itoa(count)
			}
			methods = append(methods, method{name, func(dir string) *exec.Cmd {
				conf := fmt.Sprintf("[scan_reader]\naddress = %q\n", srcSrv.Addr)
				if count > 0 {
					conf += fmt.Sprintf("count = %d\n", count)
				}
				conf += fmt.Sprintf("[redis_writer]\naddress = %q\n[advanced]\ndir = %q\nlog_level = \"warn\"\n", dstSrv.Addr, dir)
				path := filepath.Join(dir, "shake.toml")
				if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
					b.Fatal(err)
				}
				return exec.Command(bin, path)
			}})
		}
	}
	ctx := context.Background()
	for _, m := range methods {
		b.Run(m.name, func(b *testing.B) {
			var rate, rss, cpu, srvCPU float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if err := dst.Client.FlushAll(ctx).Err(); err != nil {
					b.Fatal(err)
				}
				cmd := m.cmd(b.TempDir())
				out := &syncbuf.Buffer{}
				cmd.Stdout, cmd.Stderr = out, out
				srv0 := serverCPU(b, srcSrv, dstSrv)
				b.StartTimer()
				start := time.Now()
				err := cmd.Start()
				var peak int64
				if err == nil {
					peak, err = watchPeakRSS(cmd)
				}
				elapsed := time.Since(start)
				b.StopTimer()
				if err != nil {
					b.Fatalf("%s: %v\n%s", m.name, err, out.String())
				}
				rate = float64(n) / elapsed.Seconds()
				rss = float64(peak) / 1024 // KiB to MiB
				cpu = float64((cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Microseconds()) / float64(n)
				srvCPU = float64((serverCPU(b, srcSrv, dstSrv) - srv0).Microseconds()) / float64(n)
				cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
				rep, err := Compare(cctx, src, dst, CompareOptions{TTLTolerance: time.Second})
				cancel()
				if err != nil || rep.Differences() != 0 || rep.Checked != int64(n) {
					b.Fatalf("%s: verification: %v %s", m.name, err, rep.Summary())
				}
			}
			b.ReportMetric(rate, "keys/s")
			b.ReportMetric(rss, "peak-MiB")
			// CPU per key, of the copying process and of both servers: the
			// cost of a method, which a loaded machine does not change much.
			b.ReportMetric(cpu, "client-cpu-µs/key")
			b.ReportMetric(srvCPU, "servers-cpu-µs/key")
		})
	}
}

// TestBenchChild is the child process of BenchmarkCopyMethods; run on its
// own (REDISHA_BENCH_CHILD unset) it does nothing.
func TestBenchChild(t *testing.T) {
	mode := os.Getenv("REDISHA_BENCH_CHILD")
	if mode == "" {
		return
	}
	ctx := context.Background()
	srcAddr, dstAddr := os.Getenv("REDISHA_BENCH_SRC"), os.Getenv("REDISHA_BENCH_DST")
	switch mode {
	case "redisha":
		src := open(t, "source", redisconn.Config{Addr: srcAddr})
		dst := open(t, "target", redisconn.Config{Addr: dstAddr})
		res, err := Copy(ctx, src, dst, CopyOptions{})
		if err != nil || res.Progress.Failed != 0 {
			t.Fatalf("copy: %v %+v", err, res.Problems)
		}
	case "seed":
		if err := seedCopy(ctx, srcAddr, dstAddr, runtime.NumCPU()); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("REDISHA_BENCH_CHILD=%q: want redisha or seed", mode)
	}
}

// seedCopy is the seed's method: SCAN 1000 on the source; each page's keys
// shared by `procs` workers (the seed's multiprocessing), each key copied
// with DUMP, PTTL and RESTORE ... REPLACE, one round trip each.
func seedCopy(ctx context.Context, srcAddr, dstAddr string, procs int) error {
	scan := redis.NewClient(&redis.Options{Addr: srcAddr, Protocol: 2, DisableIdentity: true})
	defer scan.Close()
	keys := make(chan string, 1000)
	errs := make(chan error, procs)
	var wg sync.WaitGroup
	for p := 0; p < procs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := redis.NewClient(&redis.Options{Addr: srcAddr, Protocol: 2, DisableIdentity: true, PoolSize: 1})
			d := redis.NewClient(&redis.Options{Addr: dstAddr, Protocol: 2, DisableIdentity: true, PoolSize: 1})
			defer s.Close()
			defer d.Close()
			for k := range keys {
				payload, err := s.Dump(ctx, k).Result()
				if err == redis.Nil {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				ttl, err := s.PTTL(ctx, k).Result()
				if err != nil {
					errs <- err
					return
				}
				if ttl < 0 {
					ttl = 0
				}
				if err := d.RestoreReplace(ctx, k, ttl, payload).Err(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var cursor uint64
	var err error
	for {
		var page []string
		if page, cursor, err = scan.Scan(ctx, cursor, "", 1000).Result(); err != nil {
			break
		}
		for _, k := range page {
			keys <- k
		}
		if cursor == 0 {
			break
		}
	}
	close(keys)
	wg.Wait()
	select {
	case e := <-errs:
		return e
	default:
		return err
	}
}

// watchPeakRSS waits for cmd and returns its peak resident set (VmHWM, in
// KiB), read every 5 ms while it runs. wait4's ru_maxrss cannot be used: a
// child forked from this process starts with this process's peak.
func watchPeakRSS(cmd *exec.Cmd) (int64, error) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status"
	var peak int64
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			return peak, err
		case <-t.C:
			b, err := os.ReadFile(status)
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
					if kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64); err == nil && kb > peak {
						peak = kb
					}
				}
			}
		}
	}
}

// serverCPU is the CPU time (user + system) the servers have used so far.
func serverCPU(b *testing.B, servers ...*redisserver.Server) time.Duration {
	var total time.Duration
	for _, s := range servers {
		raw, err := os.ReadFile("/proc/" + strconv.Itoa(s.PID()) + "/stat")
		if err != nil {
			b.Fatal(err)
		}
		// Fields after the command name (which is in parentheses): utime is
		// the 12th, stime the 13th, in clock ticks (100 per second).
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}
