package smtpserver

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPostfixRelay runs a throwaway Postfix instance (its own
// config_directory, queue and data directories in a temp folder, no
// listener of its own) whose relayhost is our receiver: mail injected with
// Postfix's sendmail must reach our spool over Postfix's SMTP client,
// with STARTTLS, PIPELINING and BODY=8BITMIME as Postfix negotiates them.
func TestPostfixRelay(t *testing.T) {
	postfix := needTool(t, "postfix")
	sendmail := needTool(t, "sendmail")
	pfUser, err := user.Lookup("postfix")
	if os.Geteuid() != 0 || err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Postfix needs root and a postfix user (euid %d, %v)", os.Geteuid(), err)
		}
		t.Skip("Postfix needs root and a postfix user")
	}
	addr, sp := testServer(t, tlsOpts(t))
	_, port, _ := strings.Cut(addr, ":")

	dir, err := os.MkdirTemp("", "scop-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Postfix daemons run as the postfix user and must reach the queue.
	os.Chmod(dir, 0o755)
	etc, queue, data := filepath.Join(dir, "etc"), filepath.Join(dir, "queue"), filepath.Join(dir, "data")
	for _, d := range []string{etc, queue, data} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(pfUser.Uid)
	gid, _ := strconv.Atoi(pfUser.Gid)
	os.Chown(data, uid, gid)
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(etc, "master.cf"), master, 0o644)
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %s
data_directory = %s
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.test
mydomain = relay.test
myorigin = relay.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
master_service_disable = inet
relayhost = [127.0.0.1]:%s
smtp_dns_support_level = disabled
smtp_tls_security_level = may
smtp_helo_name = relay.test
maillog_file = /dev/stdout
alias_maps =
alias_database =
local_recipient_maps =
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
`, queue, data, port)
	os.WriteFile(filepath.Join(etc, "main.cf"), []byte(mainCF), 0o644)

	var log lockedBuffer
	cmd := exec.Command(postfix, "-c", etc, "start-fg")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command(postfix, "-c", etc, "stop").Run()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})

	// Inject once the master runs: mail dropped earlier waits for
	// pickup's periodic scan.
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(queue, "pid", "master.pid")); err == nil && strings.Contains(log.String(), "daemon started") {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("Postfix did not start; its log:\n%s", log.String())
		}
	}
	msgs := []struct {
		body string
		args []string
	}{
		{"Subject: via postfix 1\n\nhello through a real MTA\n", nil},
		{"Subject: via postfix 2\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGrüße ✓\n", []string{"-B", "8BITMIME"}},
		{"Subject: via postfix 3\n\n" + strings.Repeat("a long body line of text\n", 4000), nil},
	}
	for _, m := range msgs {
		args := append([]string{"-C", etc, "-f", "s@sender.test"}, m.args...)
		args = append(args, "alice@example.org")
		sm := exec.Command(sendmail, args...)
		sm.Stdin = strings.NewReader(m.body)
		if out, err := sm.CombinedOutput(); err != nil {
			t.Fatalf("sendmail: %v\n%s", err, out)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	var got []string
	for {
		got = spooled(t, sp)
		if len(got) >= len(msgs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages relayed by Postfix; its log:\n%s", len(got), len(msgs), log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"Received: from relay.test", "with ESMTPS", "by relay.test (Postfix", "Grüße ✓", "via postfix 3"} {
		if !strings.Contains(all, want) {
			t.Errorf("relayed messages lack %q", want)
		}
	}
}
