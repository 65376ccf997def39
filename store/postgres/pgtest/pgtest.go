//go:build unix

// Package pgtest starts a real PostgreSQL server, from the binaries of the
// Debian package postgresql, for the tests of one package, and hands each
// test a fresh database on it.
//
// A package's tests share one server, started on first use and stopped
// when they end:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		url := pgtest.URL(t) // postgres://postgres@127.0.0.1:PORT/t_1
//		...
//	}
//
// The server runs as the user postgres when the tests run as root (initdb
// and postgres refuse root), from a temporary directory, listening on
// 127.0.0.1 on a free port and on a Unix socket in that directory. It runs
// with fsync off: test data need not survive a power cut. Where it cannot
// start, URL fails the test and says why; it never skips.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// BinEnv names the environment variable that, when set, is the directory
// of PostgreSQL's server binaries (initdb, pg_ctl) to use instead of the
// newest under /usr/lib/postgresql.
const BinEnv = "LANTLS_PG_BIN"

// The package's server, started by the first URL and stopped by Main.
var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Main runs the package's tests, stops the server they started, if any,
// and exits. Call it from TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain that has more to do: it runs the tests, stops
// the server and returns m.Run's exit code.
func Run(m *testing.M) int {
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
	}
	return code
}

// URL returns the URL of a new, empty database on the package's server,
// starting the server on first use; the database is dropped when t ends.
// If the server cannot start, t fails with the reason.
func URL(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		shared.srv, shared.err = Start(context.Background())
	})
	if shared.err != nil {
		t.Fatalf("PostgreSQL for this test: %v", shared.err)
	}
	return shared.srv.Database(t)
}

// Server is one running PostgreSQL server.
type Server struct {
	dir      string // holds data/, the log and the socket
	bin      string // directory of initdb and pg_ctl
	port     int
	asUser   string    // run the server's commands as this user ("" for ourselves)
	watchdog *exec.Cmd // stops the server if the test process dies

	mu    sync.Mutex
	admin *pgx.Conn // to the postgres database, for CREATE and DROP DATABASE
	next  int
}

// Start initializes a cluster in a new temporary directory and starts a
// server on it.
func Start(ctx context.Context) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "lantls-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin}
	if err := s.start(ctx); err != nil {
		if log, rerr := os.ReadFile(filepath.Join(dir, "log")); rerr == nil && len(log) > 0 {
			err = fmt.Errorf("%w\nserver log:\n%s", err, log)
		}
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(ctx context.Context) error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return errors.New("running as root, and there is no user postgres to run PostgreSQL as (initdb refuses root): install the Debian package postgresql, or run the tests as another user")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return err
		}
		s.asUser = "postgres"
	}
	data := filepath.Join(s.dir, "data")
	if out, err := s.run(ctx, "initdb", "-D", data, "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// A port found free may be taken before the server binds it; try again
	// then.
	var err error
	for range 3 {
		if s.port, err = freePort(); err != nil {
			return err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "+
			"-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB "+
			"-c max_connections=200", s.port, s.dir)
		var out []byte
		out, err = s.run(ctx, "pg_ctl", "-D", data, "-l", filepath.Join(s.dir, "log"),
			"-o", opts, "-w", "-t", "180", "start")
		if err == nil {
			break
		}
		err = fmt.Errorf("pg_ctl start: %w\n%s", err, out)
	}
	if err != nil {
		return err
	}
	s.startWatchdog()
	s.admin, err = pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		return fmt.Errorf("connect to the new server: %w", err)
	}
	return nil
}

// Database creates a new, empty database and returns its URL; it is
// dropped when t ends.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	s.mu.Lock()
	s.next++
	name := fmt.Sprintf("t_%d", s.next)
	_, err := s.admin.Exec(t.Context(), "CREATE DATABASE "+name)
	s.mu.Unlock()
	if err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, err := s.admin.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return s.url(name)
}

// Port returns the TCP port the server listens on at 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Stop stops the server at once and removes its directory.
func (s *Server) Stop() error {
	if s.admin != nil {
		s.admin.Close(context.Background())
	}
	var err error
	if s.port != 0 {
		var out []byte
		out, err = s.run(context.Background(), "pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop")
		if err != nil && !strings.Contains(string(out), "Is server running?") {
			err = fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
		} else {
			err = nil
		}
	}
	if s.watchdog != nil {
		s.watchdog.Process.Kill()
		s.watchdog.Wait()
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}

func (s *Server) url(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, database)
}

// run runs one of the server's binaries, as the server's user.
func (s *Server) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	if s.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", s.asUser, "--", filepath.Join(s.bin, name)}, args...)...)
	}
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

// startWatchdog starts a shell that stops the server and removes its
// directory once this process has gone, so that a test binary killed by a
// timeout or a signal leaves no server behind. It runs in its own process
// group, so that the signal that ends the tests does not end it too.
func (s *Server) startWatchdog() {
	stop := fmt.Sprintf("%q -D %q -m immediate stop", filepath.Join(s.bin, "pg_ctl"), filepath.Join(s.dir, "data"))
	if s.asUser != "" {
		stop = "runuser -u " + s.asUser + " -- " + stop
	}
	script := fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 1; done; %s >/dev/null 2>&1; rm -rf %q",
		os.Getpid(), stop, s.dir)
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if cmd.Start() == nil {
		s.watchdog = cmd
	}
}

// binDir returns the directory of PostgreSQL's server binaries: BinEnv, or
// the newest version under /usr/lib/postgresql.
func binDir() (string, error) {
	if dir := os.Getenv(BinEnv); dir != "" {
		return dir, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		return "", fmt.Errorf("no PostgreSQL server binaries under /usr/lib/postgresql: install the Debian package postgresql (scripts/test does), or set %s to the directory of initdb and pg_ctl", BinEnv)
	}
	version := func(p string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return n
	}
	newest := slices.MaxFunc(found, func(a, b string) int { return version(a) - version(b) })
	return filepath.Dir(newest), nil
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
