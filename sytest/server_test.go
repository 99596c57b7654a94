package sytest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is a scop process started by the suite.
type server struct {
	data string // data folder
	url  string
	cmd  *exec.Cmd
	log  *logBuffer
	// exited receives the process's exit once it is reaped.
	exited chan error
}

// logBuffer keeps the last lines of the server's stderr.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
	if len(b.lines) > 400 {
		b.lines = b.lines[len(b.lines)-300:]
	}
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

func (s *server) dumpLog(w io.Writer) {
	if s == nil || s.log == nil {
		return
	}
	fmt.Fprintf(w, "---- scop stderr (last lines) ----\n%s\n---- end of scop stderr ----\n", s.log)
}

// minimalConfig is the contract with `scop serve`: keys left out take
// their defaults.
const minimalConfig = `server_name: localhost
client_api:
  registration:
    enabled: true
  rate_limits:
    enabled: false
`

// scopBin is the scop binary the suite built ("" against another server).
var scopBin string

// buildScop builds cmd/scop from the enclosing module into dir.
func buildScop(dir string) (string, error) {
	root, err := findRepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "scop")
	build := exec.Command("go", "build", "-o", bin, "./cmd/scop")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/scop: %w\n%s", err, out)
	}
	return bin, nil
}

// launch starts bin on data (writing the minimal config first if there is
// none) and returns once it has written a fresh listen.json.
func launch(bin, data string) (*server, error) {
	s := &server{data: data, log: &logBuffer{}}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return s, fmt.Errorf("data dir: %w", err)
	}
	cfg := filepath.Join(data, "scop.yaml")
	if _, err := os.Stat(cfg); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(cfg, []byte(minimalConfig), 0o600); err != nil {
			return s, fmt.Errorf("write config: %w", err)
		}
	}
	listenFile := filepath.Join(data, "listen.json")
	if err := os.Remove(listenFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return s, fmt.Errorf("remove stale listen.json: %w", err)
	}
	s.cmd = exec.Command(bin, "serve", "--data", data, "--listen", "127.0.0.1:0")
	s.cmd.Dir = data
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return s, fmt.Errorf("stderr pipe: %w", err)
	}
	if err := s.cmd.Start(); err != nil {
		return s, fmt.Errorf("start scop: %w", err)
	}
	exited := make(chan error, 1)
	s.exited = exited
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			s.log.add(sc.Text())
			if *flagServerLog {
				fmt.Fprintln(os.Stderr, "scop:", sc.Text())
			}
		}
		exited <- s.cmd.Wait()
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(listenFile); err == nil {
			var l struct {
				Client string `json:"client"`
			}
			if err := json.Unmarshal(b, &l); err != nil || l.Client == "" {
				s.kill()
				return s, fmt.Errorf("listen.json %q: no client address (%v)", b, err)
			}
			s.url = "http://" + l.Client
			return s, nil
		}
		select {
		case err := <-exited:
			s.exited = nil
			return s, fmt.Errorf("scop serve exited before listening: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return s, errors.New("scop serve wrote no listen.json within 60s")
		}
	}
}

// stop sends SIGTERM and waits for the exit (killing after 10s).
func (s *server) stop() error {
	if s.exited == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	defer func() { s.exited = nil }()
	select {
	case err := <-s.exited:
		if err != nil {
			return fmt.Errorf("scop exited after SIGTERM: %w", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("scop did not exit 10s after SIGTERM; killed it")
	}
}

// kill ends the process with SIGKILL: no chance to flush anything.
func (s *server) kill() {
	if s.exited == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.exited = nil
}

// findRepoRoot walks up from the working directory to the go.mod of
// module scop.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module scop")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of module scop above the working directory; set SYTEST_URL")
		}
		dir = parent
	}
}
