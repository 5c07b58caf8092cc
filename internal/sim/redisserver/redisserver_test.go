package redisserver

import (
	"bufio"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ping sends PING on a fresh connection and returns the reply line.
func ping(addr string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// alive reports whether a process with pid exists.
func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

func TestStartStop(t *testing.T) {
	s := start(t, Options{})
	pid := s.PID()
	if !alive(pid) {
		t.Fatalf("pid %d not running", pid)
	}
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Fatalf("addr %s is not on 127.0.0.1", s.Addr)
	}
	if got, err := ping(s.Addr, 2*time.Second); got != "+PONG" {
		t.Fatalf("ping: %q %v", got, err)
	}
	if _, err := os.Stat(s.LogFile()); err != nil {
		t.Fatalf("log file: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Fatalf("pid %d still running after Stop", pid)
	}
	if s.PID() != 0 {
		t.Fatalf("PID() = %d after Stop, want 0", s.PID())
	}
	if _, err := os.Stat(s.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir %s not removed: %v", s.Dir(), err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestKillRestartSamePort(t *testing.T) {
	s := start(t, Options{Password: "pw"})
	pid, addr := s.PID(), s.Addr
	s.Kill()
	if alive(pid) {
		t.Fatalf("pid %d still running after Kill", pid)
	}
	if _, err := ping(addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("ping a killed server: %v, want connection refused", err)
	}
	if _, err := os.Stat(s.Dir()); err != nil {
		t.Fatalf("Kill removed the dir: %v", err)
	}
	if err := s.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if s.Addr != addr || s.PID() == pid || !alive(s.PID()) {
		t.Fatalf("restart: addr %s (was %s), pid %d (was %d)", s.Addr, addr, s.PID(), pid)
	}
	// Same options: the password still applies.
	if got, _ := ping(s.Addr, 2*time.Second); !strings.HasPrefix(got, "-NOAUTH") {
		t.Fatalf("ping without password after restart: %q, want NOAUTH", got)
	}
}

func TestPauseResume(t *testing.T) {
	s := start(t, Options{})
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	if got, err := ping(s.Addr, 300*time.Millisecond); err == nil {
		t.Fatalf("a paused server answered %q", got)
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if got, err := ping(s.Addr, 2*time.Second); got != "+PONG" {
		t.Fatalf("ping after resume: %q %v", got, err)
	}
	// A paused server still stops, promptly.
	pid := s.PID()
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) || time.Since(begin) > 10*time.Second {
		t.Fatalf("stop of a paused server: alive=%v after %s", alive(pid), time.Since(begin))
	}
	if err := s.Pause(); err == nil {
		t.Fatal("Pause of a stopped server succeeded")
	}
}

func TestTLSOnly(t *testing.T) {
	// A TLS server with a missing certificate fails at start, loudly.
	_, err := Start(Options{TLS: &TLSFiles{CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"}})
	if err == nil {
		t.Fatal("start with missing certificate files succeeded")
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(Options{Config: []string{"no-such-directive yes"}}); err == nil ||
		!strings.Contains(err.Error(), "exited at start") {
		t.Fatalf("bad config line: %v, want an exited-at-start error", err)
	}
	if _, err := Start(Options{Binary: "/nonexistent/redis-server"}); err == nil {
		t.Fatal("start with a missing binary succeeded")
	}
	if _, err := Binary(); err != nil {
		t.Fatalf("redis-server not found: %v", err)
	}
}
