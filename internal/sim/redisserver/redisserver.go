// Package redisserver starts and stops real redis-server processes on
// loopback, for tests and for the local run. Every process it starts is
// tracked by PID and stopped by Stop; none is ever left behind on purpose.
package redisserver

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redisha/redisha/internal/sim/childproc"
)

// ErrNotInstalled means no redis-server binary was found.
var ErrNotInstalled = errors.New("redis-server not found: install it (apt-get install -y redis-server) or run `make deps`")

// TLSFiles are the PEM files a TLS server uses.
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
}

// Options shape one server.
type Options struct {
	// Port to listen on. default: a free loopback port
	Port int
	// Bind address. default: 127.0.0.1 (never anything but loopback)
	Bind string
	// Password sets requirepass for the default user.
	Password string
	// TLS, when set, serves TLS only on Port (no plain port).
	TLS *TLSFiles
	// Config holds extra redis.conf lines, e.g. "maxmemory 1mb" or
	// "user alice on >pw ~* +@all".
	Config []string
	// Dir is the working directory. default: a new temporary directory,
	// removed by Stop.
	Dir string
	// Binary is the redis-server path. default: found on PATH or /usr/bin
	Binary string
	// StartTimeout bounds waiting for "Ready to accept connections".
	// default: 10 seconds
	StartTimeout time.Duration
	// Cluster starts the server in cluster mode (cluster-enabled yes) with
	// its cluster bus on a second free loopback port; it owns no slots until
	// it is given some (see redistest.StartCluster). default: false
	Cluster bool
}

// Server is one running redis-server.
type Server struct {
	// Addr is 127.0.0.1:port.
	Addr string
	// Port is the listening port.
	Port int
	// BusPort is the cluster bus port when Options.Cluster is set, else 0.
	BusPort int

	opts    Options
	ownsDir bool

	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed when the current process has been reaped.
	exited chan struct{}
}

// Binary returns the redis-server path, or ErrNotInstalled.
func Binary() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/local/bin/redis-server"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNotInstalled
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts a server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	if o.Binary == "" {
		b, err := Binary()
		if err != nil {
			return nil, err
		}
		o.Binary = b
	}
	if o.Bind == "" {
		o.Bind = "127.0.0.1"
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	s := &Server{opts: o}
	if s.opts.Dir == "" {
		d, err := os.MkdirTemp("", "redisha-redis-")
		if err != nil {
			return nil, err
		}
		s.opts.Dir, s.ownsDir = d, true
	}
	// A port taken between FreePort and bind is retried with another.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		port := o.Port
		if port == 0 {
			if port, err = FreePort(); err != nil {
				break
			}
		}
		s.Port = port
		s.Addr = net.JoinHostPort(o.Bind, strconv.Itoa(port))
		// The default bus port (port+10000) may be taken or out of range.
		if o.Cluster {
			if s.BusPort, err = FreePort(); err != nil {
				break
			}
		}
		if err = s.start(); err == nil || o.Port != 0 || !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	if err != nil {
		s.cleanupDir()
		return nil, err
	}
	return s, nil
}

// PID returns the process id of the running server, or 0.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Dir is the server's working directory (config, log, data).
func (s *Server) Dir() string { return s.opts.Dir }

// LogFile is the server's log.
func (s *Server) LogFile() string { return filepath.Join(s.opts.Dir, "redis.log") }

func (s *Server) configText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bind %s\n", s.opts.Bind)
	if s.opts.TLS != nil {
		fmt.Fprintf(&b, "port 0\ntls-port %d\n", s.Port)
		fmt.Fprintf(&b, "tls-cert-file %s\ntls-key-file %s\n", s.opts.TLS.CertFile, s.opts.TLS.KeyFile)
		if s.opts.TLS.CAFile != "" {
			fmt.Fprintf(&b, "tls-ca-cert-file %s\n", s.opts.TLS.CAFile)
		}
		b.WriteString("tls-auth-clients no\ntls-replication yes\n")
	} else {
		fmt.Fprintf(&b, "port %d\n", s.Port)
	}
	fmt.Fprintf(&b, "dir %s\nlogfile %s\n", s.opts.Dir, s.LogFile())
	b.WriteString("daemonize no\nsave \"\"\nappendonly no\nprotected-mode no\nenable-debug-command yes\n")
	if s.opts.Password != "" {
		fmt.Fprintf(&b, "requirepass %s\nmasterauth %s\n", s.opts.Password, s.opts.Password)
	}
	if s.opts.Cluster {
		fmt.Fprintf(&b, "cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-port %d\ncluster-node-timeout 5000\n", s.BusPort)
		if s.opts.TLS != nil {
			b.WriteString("tls-cluster yes\n")
		}
	}
	for _, l := range s.opts.Config {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func (s *Server) start() error {
	conf := filepath.Join(s.opts.Dir, "redis.conf")
	if err := os.WriteFile(conf, []byte(s.configText()), 0o600); err != nil {
		return err
	}
	_ = os.Remove(s.LogFile())
	cmd := exec.Command(s.opts.Binary, conf)
	cmd.Dir = s.opts.Dir
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	// The server dies with its parent even if the parent is killed.
	cmd.SysProcAttr = childproc.DieWithParent()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	deadline := time.Now().Add(s.opts.StartTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			log, _ := os.ReadFile(s.LogFile())
			return fmt.Errorf("redis-server exited at start: %s%s", lastLines(string(log), 5), stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if log, _ := os.ReadFile(s.LogFile()); bytes.Contains(log, []byte("Ready to accept connections")) {
			return nil
		}
	}
	s.kill()
	return fmt.Errorf("redis-server on %s not ready after %s", s.Addr, s.opts.StartTimeout)
}

// Stop ends the server (SIGTERM, then SIGKILL after 5 s), waits for it and
// removes a directory it created. Stopping a stopped server is a no-op.
func (s *Server) Stop() error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot exit
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			s.kill()
		}
	}
	s.mu.Lock()
	s.cmd = nil
	s.mu.Unlock()
	s.cleanupDir()
	return nil
}

// Kill ends the server at once with SIGKILL and waits for it; the directory
// stays, so Restart can bring it back on the same port.
func (s *Server) Kill() { s.kill() }

func (s *Server) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts the server again on the same port with the same options.
func (s *Server) Restart() error {
	s.kill()
	var err error
	// The port can linger briefly after a kill.
	for i := 0; i < 50; i++ {
		if err = s.start(); err == nil || !strings.Contains(err.Error(), "in use") {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// Pause stops the process with SIGSTOP: it keeps its sockets but answers
// nothing, as a stalled server does.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("redis-server is not running")
	}
	return s.cmd.Process.Signal(sig)
}

func (s *Server) cleanupDir() {
	if s.ownsDir {
		_ = os.RemoveAll(s.opts.Dir)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
