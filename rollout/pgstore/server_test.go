//go:build unix

package pgstore_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shepherd-go/shepherd/internal/testenv"
)

// server is a database of its own for a test, in the PostgreSQL cluster
// the package's tests share.
type server struct {
	dsn string
}

// cluster is the PostgreSQL the package's tests share: started by the
// first test that needs it, stopped by TestMain.
var cluster struct {
	once  sync.Once
	base  string // DSN without the database
	stop  func()
	logs  syncBuffer
	err   error
	dbs   atomic.Int64
	admin *pgxpool.Pool
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster.admin != nil {
		cluster.admin.Close()
	}
	if cluster.stop != nil {
		cluster.stop()
	}
	os.Exit(code)
}

// startPostgres returns a new, empty database for the test, in a
// PostgreSQL cluster started once for the package's tests: Debian's
// (initdb, then postgres) on a free loopback port with a temporary data
// directory, without fsync. Without Debian's PostgreSQL the test fails
// under make test and skips under a bare go test.
func startPostgres(t testing.TB) *server {
	t.Helper()
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Sort(sort.Reverse(sort.StringSlice(candidates))) // newest first
	initdb := testenv.LookPath(t, append([]string{"initdb"}, candidates...)...)
	cluster.once.Do(func() {
		cluster.base, cluster.stop, cluster.err = startCluster(initdb)
		if cluster.err == nil {
			cluster.admin, cluster.err = pgxpool.New(context.Background(), cluster.base+"/postgres?sslmode=disable")
		}
	})
	if cluster.err != nil {
		t.Fatalf("starting PostgreSQL: %v\n%s", cluster.err, cluster.logs.String())
	}
	name := "test" + strconv.FormatInt(cluster.dbs.Add(1), 10)
	if _, err := cluster.admin.Exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	return &server{dsn: cluster.base + "/" + name + "?sslmode=disable"}
}

// startCluster initialises a cluster in a temporary directory and starts
// it. PostgreSQL refuses to run as root: as root, it runs as the postgres
// user the Debian package creates.
func startCluster(initdb string) (dsn string, stop func(), err error) {
	postgres := filepath.Join(filepath.Dir(initdb), "postgres")
	dir, err := os.MkdirTemp("", "shepherd-pg-")
	if err != nil {
		return "", nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", nil, fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return "", nil, err
		}
	}
	data := filepath.Join(dir, "data")
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return cmd
	}
	out, err := command(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput()
	if err != nil {
		return "", nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := command(postgres, "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=100")
	cmd.Stdout, cmd.Stderr = &cluster.logs, &cluster.logs
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("starting %s: %w", postgres, err)
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		os.RemoveAll(dir)
	}
	dsn = fmt.Sprintf("postgres://postgres@127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		pool, err := pgxpool.New(ctx, dsn+"/postgres?sslmode=disable")
		if err == nil {
			err = pool.Ping(ctx)
			pool.Close()
		}
		cancel()
		if err == nil {
			return dsn, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("not ready after 30s: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pool opens a connection pool to the server, closed when the test ends.
func (s *server) pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
