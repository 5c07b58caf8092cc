package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/migrate"
	"github.com/redisha/redisha/internal/redisconn"
)

func newMigrateCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate copy|compare|follow --from HOST:PORT --to HOST:PORT [flags]",
		Short: "Move the data of one live Redis deployment into another: copy, compare, follow",
		Long: `Moves data between two live deployments (standalone or cluster, TLS and AUTH on either side) without
replication, which ElastiCache blocks:

  copy     SCAN + DUMP/RESTORE every key (TTLs to the millisecond), resumable, rate-limited
  compare  key by key, per-type digests, differences as a table or JSON
  follow   keep the target current from the source's keyspace notifications

The usual order: start the application's dual-write (package dualwrite) or 'migrate copy --follow',
then 'migrate compare', then move reads. See docs/migration.md.`,
		Args: noArgs,
	}
	cmd.AddCommand(newMigrateCopyCmd(env), newMigrateCompareCmd(env), newMigrateFollowCmd(env))
	return cmd
}

// sideFlags are the connection flags of one side of a migration: --from
// (source) or --to (target), each with its own TLS and AUTH settings.
type sideFlags struct {
	cmd                                                *cobra.Command
	name                                               string // "from" or "to"
	addr, tlsServerName, tlsCAFile, user, passwordFile string
	tls, allowPlaintextAuth                            bool
	db                                                 int
}

func addSideFlags(cmd *cobra.Command, name, what string) *sideFlags {
	s := &sideFlags{cmd: cmd, name: name}
	fs := cmd.Flags()
	fs.StringVar(&s.addr, name, "", what+" endpoint `host:port` (required); a cluster is detected, any node will do")
	fs.BoolVar(&s.tls, name+"-tls", true, "connect to the "+what+" with TLS, certificate verification always on (--"+name+"-tls=false: plain TCP; env REDISHA_TLS as for the other commands)")
	fs.BoolVar(&s.allowPlaintextAuth, name+"-allow-plaintext-auth", false, "send the "+what+"'s AUTH token although TLS is off (a server that has no TLS)")
	fs.StringVar(&s.tlsServerName, name+"-tls-server-name", "", "`name` to verify in the "+what+"'s certificate (default: each node's host)")
	fs.StringVar(&s.tlsCAFile, name+"-tls-ca-file", "", "PEM `file` of extra CAs to trust for the "+what)
	fs.StringVar(&s.user, name+"-user", "", "ACL `username` on the "+what)
	fs.StringVar(&s.passwordFile, name+"-password-file", "", "`file` holding the "+what+"'s AUTH token (never on the command line)")
	fs.IntVar(&s.db, name+"-db", 0, "database `index` on a standalone "+what)
	intRange(fs, name+"-db", 0, maxDB, "")
	return s
}

// config validates the side's flags; errors are *UsageError naming the flag.
// An unset --<side>-tls takes REDISHA_TLS, as the connection flags do.
func (s *sideFlags) config(getenv func(string) string, timeout time.Duration) (redisconn.Config, error) {
	if s.addr == "" {
		return redisconn.Config{}, usagef("--%s is required: give the endpoint as host:port, e.g. --%s redis.internal:6379", s.name, s.name)
	}
	if v := getenv("REDISHA_TLS"); v != "" && !s.cmd.Flags().Changed(s.name+"-tls") {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return redisconn.Config{}, usagef("REDISHA_TLS=%q: give true or false", v)
		}
		s.tls = b
	}
	cfg := redisconn.Config{Addr: s.addr, TLS: s.tls, TLSServerName: s.tlsServerName, TLSCAFile: s.tlsCAFile,
		Username: s.user, DB: s.db, DialTimeout: timeout, IOTimeout: timeout}
	if s.passwordFile != "" {
		pw, err := readPasswordFile(s.passwordFile) // the same rules as --password-file: chmod 600, not empty
		if err != nil {
			return cfg, usagef("--%s-password-file: %w", s.name, err)
		}
		cfg.Password = pw
		if !s.tls && !s.allowPlaintextAuth {
			// The token is the first thing a connection sends: without TLS
			// anyone on the path reads it.
			return cfg, usagef("--%s-tls is off, so the %s's AUTH token would cross the network in clear: turn TLS on, or give --%s-allow-plaintext-auth for a server that has no TLS",
				s.name, map[string]string{"from": "source", "to": "target"}[s.name], s.name)
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usagef("--%s: %w", s.name, err)
	}
	if _, err := cfg.TLSConfig(); err != nil {
		return cfg, usagef("--%s-tls-ca-file: %w: give a PEM bundle of the CAs to trust", s.name, err)
	}
	return cfg, nil
}

// migrateConn holds the flags every migrate subcommand shares.
type migrateConn struct {
	cmd      *cobra.Command
	getenv   func(string) string
	from, to *sideFlags
	timeout  time.Duration
	workers  int

	fc, tc redisconn.Config // validated by open
}

func addMigrateConn(cmd *cobra.Command, env Env, defWorkers int) *migrateConn {
	m := &migrateConn{cmd: cmd, getenv: env.Getenv, from: addSideFlags(cmd, "from", "source"), to: addSideFlags(cmd, "to", "target")}
	cmd.Flags().DurationVar(&m.timeout, "timeout", 30*time.Second, "deadline of each dial and each read or write of a batch")
	cmd.Flags().IntVar(&m.workers, "workers", defWorkers, "`batches` in flight at once")
	durationRange(cmd.Flags(), "timeout", time.Millisecond, time.Hour, "")
	intRange(cmd.Flags(), "workers", 1, 1024, "")
	return m
}

// open validates the flags and connects to both sides.
func (m *migrateConn) open(ctx context.Context) (src, dst *migrate.Side, err error) {
	if m.timeout <= 0 {
		return nil, nil, usagef("--timeout must be positive, e.g. --timeout 30s")
	}
	if m.workers <= 0 {
		return nil, nil, usagef("--workers must be at least 1")
	}
	fc, err := m.from.config(m.getenv, m.timeout)
	if err != nil {
		return nil, nil, err
	}
	tc, err := m.to.config(m.getenv, m.timeout)
	if err != nil {
		return nil, nil, err
	}
	if fc.Addr == tc.Addr && fc.DB == tc.DB {
		return nil, nil, usagef("--from and --to are the same endpoint %s: give the target's address with --to", fc.Addr)
	}
	m.fc, m.tc = fc, tc
	if src, dst, err = m.openDB(ctx, fc.DB, tc.DB); err != nil {
		return nil, nil, err
	}
	// Addresses can differ for one deployment (a host name and its IP, two
	// nodes of one cluster): the servers' own identities decide.
	if why := migrate.SameDeployment(src, dst); why != "" {
		_, _ = src.Close(), dst.Close()
		return nil, nil, usagef("--from and --to are one deployment: %s; give the target's own endpoint with --to", why)
	}
	return src, dst, nil
}

// openDB connects to database srcDB of the source and dstDB of the target.
func (m *migrateConn) openDB(ctx context.Context, srcDB, dstDB int) (src, dst *migrate.Side, err error) {
	so := migrate.SideOptions{PoolSize: m.workers * 2, IOTimeout: m.timeout}
	octx, cancel := context.WithTimeout(ctx, 2*m.timeout)
	defer cancel()
	fc, tc := m.fc, m.tc
	fc.DB, tc.DB = srcDB, dstDB
	if src, err = migrate.Open(octx, "source", fc, so); err != nil {
		return nil, nil, err
	}
	if dst, err = migrate.Open(octx, "target", tc, so); err != nil {
		_ = src.Close()
		return nil, nil, err
	}
	return src, dst, nil
}

// sidePair is one database to migrate: db of the source into the same
// database of the target (or the databases --from-db and --to-db name).
type sidePair struct {
	db       int
	src, dst *migrate.Side
}

// label prefixes a line with the database when several are migrated.
func label(pairs []sidePair, p sidePair, s string) string {
	if len(pairs) == 1 {
		return s
	}
	return fmt.Sprintf("db %d: %s", p.db, s)
}

// with opens both sides and, for a standalone source without --from-db,
// every other non-empty database of it (a copy of db 0 alone reported 100%
// over data it never saw), runs fn on them and closes them.
func (m *migrateConn) with(ctx context.Context, fn func(pairs []sidePair) error) error {
	src, dst, err := m.open(ctx)
	if err != nil {
		return err
	}
	pairs := []sidePair{{db: m.fc.DB, src: src, dst: dst}}
	defer func() {
		for _, p := range pairs {
			_, _ = p.src.Close(), p.dst.Close()
		}
	}()
	if !src.Cluster && !m.cmd.Flags().Changed("from-db") {
		ks, err := src.Keyspace(ctx)
		if err != nil {
			return err
		}
		var others []int
		for db, n := range ks {
			if n > 0 && db != m.fc.DB {
				others = append(others, db)
			}
		}
		sort.Ints(others)
		if len(others) > 0 {
			var list []string
			for _, db := range others {
				list = append(list, fmt.Sprintf("db %d (%d keys)", db, ks[db]))
			}
			switch {
			case dst.Cluster:
				return usagef("the source %s also holds keys in %s, and a cluster target has db 0 only: migrate each database with --from-db N (into db 0 of the target), or give a standalone target",
					src.Addr, strings.Join(list, ", "))
			case m.cmd.Flags().Changed("to-db"):
				return usagef("--to-db maps one database but the source %s holds keys in db %d and %s: give --from-db too, or drop --to-db to migrate every database into the same one",
					src.Addr, m.fc.DB, strings.Join(list, ", "))
			}
			for _, db := range others {
				s, d, err := m.openDB(ctx, db, db)
				if err != nil {
					return err
				}
				pairs = append(pairs, sidePair{db: db, src: s, dst: d})
			}
		}
	}
	return fn(pairs)
}

// liveLine prints a status line that rewrites itself on a terminal and is
// one line per update elsewhere (logs, CI).
type liveLine struct {
	w   io.Writer
	tty bool
}

func newLiveLine(w io.Writer) liveLine { return liveLine{w: w, tty: isTerminal(w)} }

func (l liveLine) show(s string) {
	if l.tty {
		fmt.Fprintf(l.w, "\r\033[K%s", s)
		return
	}
	fmt.Fprintln(l.w, s)
}

// end finishes a rewritten line.
func (l liveLine) end() {
	if l.tty {
		fmt.Fprintln(l.w)
	}
}

// describeSide names a side by its address and by the servers' identity,
// so a wrong --to shows before anything is written.
func describeSide(s *migrate.Side) string {
	kind := "standalone, db " + strconv.Itoa(s.DB)
	if s.Cluster {
		kind = fmt.Sprintf("cluster of %d masters", len(s.Shards))
	}
	return fmt.Sprintf("%s %s: redis %s, %s, %s", s.Name, s.Addr, s.Version, kind, s.Identity())
}
