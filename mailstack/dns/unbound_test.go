package dns_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	miekg "github.com/miekg/dns"

	"scop/mailstack/dns"
	"scop/mailstack/dns/dnstest"
)

// startUnbound runs unbound (Debian package "unbound") on loopback as a
// validating recursive resolver forwarding to the world, with the world's
// trust anchor. It skips when unbound is absent, unless CI=true.
func startUnbound(t *testing.T, w *dnstest.World) string {
	t.Helper()
	bin, err := exec.LookPath("unbound")
	if err != nil {
		for _, p := range []string{"/usr/sbin/unbound", "/usr/local/sbin/unbound"} {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("unbound not installed (Debian package unbound)")
		}
		t.Skip("unbound not installed (Debian package unbound)")
	}
	dir := t.TempDir()
	port := freePort(t)
	_, worldPort, _ := net.SplitHostPort(w.Addr)
	conf := fmt.Sprintf(`server:
  interface: 127.0.0.1
  port: %d
  do-ip6: no
  do-daemonize: no
  username: ""
  chroot: ""
  directory: %q
  pidfile: %q
  use-syslog: no
  logfile: ""
  verbosity: 0
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  module-config: "validator iterator"
  trust-anchor: "%s"
  qname-minimisation: no
  aggressive-nsec: no
  harden-below-nxdomain: no
  # test. is a special-use name unbound answers itself by default.
  local-zone: "test." nodefault
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@%s
`, port, dir, filepath.Join(dir, "unbound.pid"), strings.Join(strings.Fields(w.Anchors[0]), " "), worldPort)
	confPath := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-c", confPath)
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unbound: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// Wait until it answers; each probe has its own short time-out.
	c := &miekg.Client{Timeout: 200 * time.Millisecond}
	m := new(miekg.Msg)
	m.SetQuestion("test.", miekg.TypeSOA)
	for deadline := time.Now().Add(15 * time.Second); ; {
		if _, _, err := c.Exchange(m, addr); err == nil {
			return addr
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("unbound exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("unbound on %s did not answer", addr)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// unboundVerdict asks unbound with validation on: SERVFAIL means bogus,
// the AD bit secure, anything else insecure.
func unboundVerdict(t *testing.T, addr, name string, qtype uint16) dns.Security {
	t.Helper()
	m := new(miekg.Msg)
	m.SetQuestion(miekg.Fqdn(name), qtype)
	m.SetEdns0(1232, true)
	c := &miekg.Client{Timeout: 2 * time.Second, Net: "tcp"}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("unbound %s: %v", name, err)
	}
	switch {
	case resp.Rcode == miekg.RcodeServerFailure:
		return dns.Bogus
	case resp.AuthenticatedData:
		return dns.Secure
	}
	return dns.Insecure
}

// TestAgainstUnbound uses unbound twice: as the recursive upstream the
// resolver queries with CD set (so unbound hands over even bogus data),
// and as an oracle whose own verdict the resolver's must equal.
func TestAgainstUnbound(t *testing.T) {
	w := dnstest.NewWorld(t)
	addr := startUnbound(t, w)
	r, err := dns.NewValidatingResolver(dns.Config{Upstreams: []string{addr}, TrustAnchors: w.Anchors, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		qtype uint16
	}{
		{"www.secure.test", miekg.TypeA},
		{"secure.test", miekg.TypeMX},
		{"nx.secure.test", miekg.TypeA},
		{"nodata.secure.test", miekg.TypeA},
		{"foo.wild.secure.test", miekg.TypeTXT},
		{"c1.secure.test", miekg.TypeA},
		{"out.secure.test", miekg.TypeA},
		{"big.secure.test", miekg.TypeTXT},
		{"www.insecure.test", miekg.TypeA},
		{"badsig.bogus.test", miekg.TypeA},
		{"expired.bogus.test", miekg.TypeA},
		{"nosig.bogus.test", miekg.TypeA},
		{"good.bogus.test", miekg.TypeA},
		{"www.wrongds.test", miekg.TypeA},
		{"www.nsec3.test", miekg.TypeA},
		{"nx.nsec3.test", miekg.TypeA},
		{"a.wild.nsec3.test", miekg.TypeTXT},
		{"www.unsigned.optout.test", miekg.TypeA},
		{"foo.wild.secure.test", miekg.TypeA},
		{"wild.secure.test", miekg.TypeA},
		{"www.dn.secure.test", miekg.TypeA},
		{"nx.insecure.test", miekg.TypeA},
		{"nx.optout.test", miekg.TypeA},
		{"www.nsec3.test", miekg.TypeTXT},
		{"a.wild.nsec3.test", miekg.TypeA},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.name, ".")+"/"+miekg.TypeToString[tt.qtype], func(t *testing.T) {
			want := unboundVerdict(t, addr, tt.name, tt.qtype)
			ans, err := r.Lookup(t.Context(), tt.name, tt.qtype)
			if ans.Security != want {
				t.Errorf("Lookup(%s) = %s (%v); unbound says %s", tt.name, ans.Security, err, want)
			}
		})
	}
}
