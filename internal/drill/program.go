package drill

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
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

// Program is an application in another language that the drill runs as a
// process, in region b, beside its Go applications and through the same
// failover. It follows the interface of examples/python and examples/node:
// its settings from the environment (REDIS_HOST, REDIS_PORT, KEY_PREFIX,
// INTERVAL_MS, TIMEOUT_MS, RETRY_BASE_MS, RETRY_CAP_MS, REDIS_DNS_SERVER),
// one JSON line per write on stdout ({"seq":7,"t_ms":…,"ok":true}), a clean
// exit on SIGTERM.
type Program struct {
	// Name labels it in the report and on the timeline (python, node).
	Name string
	// Argv runs it: the interpreter and the program.
	Argv []string
}

// ProgramRegion is the region the Programs run in: the one that survives
// the default scenario, so their figures show a failover followed.
const ProgramRegion = "b"

// programLine is one line a Program prints per write.
type programLine struct {
	Seq uint64 `json:"seq"`
	TMs int64  `json:"t_ms"`
	OK  bool   `json:"ok"`
	Err string `json:"err"`
}

// backoff is the writers' documented retry backoff (docs/applications.md):
// a rehearsal that runs time faster gives them the same backoff at its
// scale, so a retry costs the scenario what it would cost an application.
const (
	programRetryBase = 500 * time.Millisecond
	programRetryCap  = 10 * time.Second
)

// startProgram runs p as an application of ProgramRegion. The returned
// stop ends it (SIGTERM, then SIGKILL after a few seconds) and waits for
// its last line; it reports a program that ended on its own before that.
func (d *Drill) startProgram(p Program) (*app, func() error, error) {
	keys := ProgramRegion + "-" + p.Name
	a := &app{region: ProgramRegion, lang: p.Name, retries: true, keys: keys, now: d.clock.Now, tl: d.tl}
	ms := func(v time.Duration) string { return strconv.FormatInt(max(v.Milliseconds(), 1), 10) }
	cmd := exec.Command(p.Argv[0], p.Argv[1:]...)
	cmd.SysProcAttr = childproc.DieWithParent()
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"REDIS_HOST=" + strings.TrimSuffix(d.dns.Name(), "."), "REDIS_PORT=" + strconv.Itoa(d.topo.Port),
		"REDIS_DNS_SERVER=" + d.dns.Addr(),
		"KEY_PREFIX=" + appKeyPrefix(keys),
		"INTERVAL_MS=10", "TIMEOUT_MS=" + ms(d.opTimeout()),
		"RETRY_BASE_MS=" + ms(d.clock.Wall(programRetryBase)), "RETRY_CAP_MS=" + ms(d.clock.Wall(programRetryCap)),
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	var stderr tail
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("application %s: start %s: %w", p.Name, strings.Join(p.Argv, " "), err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l programLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.TMs == 0 {
				d.logf("application %s printed a line that is not a write: %q", p.Name, sc.Text())
				continue
			}
			a.record(op{at: d.clock.At(time.UnixMilli(l.TMs)), ok: l.OK, class: l.Err, seq: l.Seq})
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-read
		exited <- cmd.Wait()
	}()
	stop := func() error {
		select {
		case err := <-exited:
			// It ended before the drill did: its last lines say why.
			return fmt.Errorf("application %s ended before the drill did (%v): %s", p.Name, err, stderr.String())
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		return nil
	}
	return a, stop, nil
}

// tail keeps the last lines a program wrote to stderr, for its error.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// validatePrograms checks the Programs' names and commands.
func validatePrograms(ps []Program) error {
	seen := map[string]bool{"go": true}
	for _, p := range ps {
		switch {
		case p.Name == "" || strings.ContainsAny(p.Name, " :"):
			return fmt.Errorf("application %q: give a name without spaces or colons (python, node)", p.Name)
		case seen[p.Name]:
			return fmt.Errorf("application %q: given twice (go is the drill's own)", p.Name)
		case len(p.Argv) == 0:
			return fmt.Errorf("application %s: no command to run", p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

// errProgramsCut is why a scenario that cuts applications' paths runs
// without the Programs.
var errProgramsCut = errors.New("this scenario cuts applications' network paths, which only the Go applications' dialer can do")

// programNames lists the Programs' names.
func programNames(ps []Program) string {
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	return strings.Join(names, " and ")
}

// ExampleProgram is the example program name (python or node) in dir, the
// repository's examples folder, with the runtime that runs it; the error
// says what to install when it cannot run here.
func ExampleProgram(name, dir string) (Program, error) {
	switch name {
	case "python":
		script := filepath.Join(dir, "python", "writer.py")
		if _, err := os.Stat(script); err != nil {
			return Program{}, fmt.Errorf("%w (--examples: the repository's examples folder)", err)
		}
		// Debian's python3-redis installs redis-py for /usr/bin/python3,
		// which a python3 earlier on PATH may not see.
		for _, py := range []string{"/usr/bin/python3", "python3"} {
			check := "import redis, sys; sys.exit(tuple(int(x) for x in redis.__version__.split('.')[:2]) < (4, 3))"
			if exec.Command(py, "-c", check).Run() == nil {
				return Program{Name: name, Argv: []string{py, script}}, nil
			}
		}
		return Program{}, errors.New("no python3 with redis-py 4.3 or later: run make deps-examples (apt-get install python3-redis)")
	case "node":
		script := filepath.Join(dir, "node", "writer.js")
		if _, err := os.Stat(script); err != nil {
			return Program{}, fmt.Errorf("%w (--examples: the repository's examples folder)", err)
		}
		node, err := exec.LookPath("node")
		if err != nil {
			return Program{}, errors.New("node is not installed: run make deps-examples (apt-get install nodejs npm)")
		}
		if _, err := os.Stat(filepath.Join(dir, "node", "node_modules", "ioredis", "package.json")); err != nil {
			return Program{}, fmt.Errorf("%s has no node_modules/ioredis: run make deps-examples (npm ci there)", filepath.Join(dir, "node"))
		}
		return Program{Name: name, Argv: []string{node, script}}, nil
	}
	return Program{}, fmt.Errorf("no example program %q", name)
}
