package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redisha/redisha/internal/redisconn"
)

// connFlags are the connection flags every command shares.
type connFlags struct {
	addr, tlsServerName, tlsCAFile, user, passwordFile string
	tls                                                bool
	db                                                 int
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "", "endpoint `host:port` (required), e.g. redis.internal:6379")
	fs.BoolVar(&c.tls, "tls", false, "connect with TLS (certificate verification always on)")
	fs.StringVar(&c.tlsServerName, "tls-server-name", "", "`name` to verify in the server certificate when --addr is a CNAME\n(e.g. the ElastiCache primary endpoint behind redis.internal)")
	fs.StringVar(&c.tlsCAFile, "tls-ca-file", "", "PEM `file` of extra CAs to trust (default: system roots)")
	fs.StringVar(&c.user, "user", "", "ACL `username` (default: the default user)")
	fs.StringVar(&c.passwordFile, "password-file", "", "`file` holding the AUTH token (or set REDISHA_PASSWORD_FILE);\nthe token is never taken on the command line")
	fs.IntVar(&c.db, "db", 0, "database `index`")
}

// config validates the flags and reads the password file.
func (c *connFlags) config(env Env, timeout time.Duration) (redisconn.Config, error) {
	if c.addr == "" {
		return redisconn.Config{}, errors.New("--addr is required: give the endpoint as host:port, e.g. --addr redis.internal:6379")
	}
	cfg := redisconn.Config{
		Addr: c.addr, TLS: c.tls, TLSServerName: c.tlsServerName, TLSCAFile: c.tlsCAFile,
		Username: c.user, DB: c.db, DialTimeout: timeout, IOTimeout: timeout,
	}
	pf := c.passwordFile
	if pf == "" {
		pf = env.Getenv("REDISHA_PASSWORD_FILE")
	}
	if pf != "" {
		b, err := os.ReadFile(pf)
		if err != nil {
			return cfg, fmt.Errorf("--password-file: %w", err)
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
		if cfg.Password == "" {
			return cfg, fmt.Errorf("--password-file %s is empty: put the AUTH token in it", pf)
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, flagErr(err)
	}
	return cfg, nil
}

// flagErr rewrites redisconn's field names as the flags that set them.
func flagErr(err error) error {
	r := strings.NewReplacer("addr ", "--addr ", "db ", "--db ", "tls server name", "--tls-server-name",
		"tls CA file", "--tls-ca-file", "TLS is off", "--tls is off", "turn TLS on", "add --tls")
	return errors.New(r.Replace(err.Error()))
}
