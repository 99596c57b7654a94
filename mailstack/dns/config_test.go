package dns_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"scop/mailstack/dns"
)

func TestSystemUpstreamsAndAnchors(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	os.WriteFile(conf, []byte("# test\nnameserver 127.0.0.1\nnameserver ::1\nsearch example\n"), 0o600)
	ups, err := dns.SystemUpstreams(conf)
	if want := []string{"127.0.0.1:53", "[::1]:53"}; err != nil || !slices.Equal(ups, want) {
		t.Errorf("SystemUpstreams = %v, %v; want %v", ups, err, want)
	}
	anchors := filepath.Join(dir, "root.key")
	os.WriteFile(anchors, []byte("; root\n"+dns.RootAnchors[0]+"\n"+dns.RootAnchors[1]+"\n"), 0o600)
	got, err := dns.LoadTrustAnchors(anchors)
	if err != nil || len(got) != 2 {
		t.Fatalf("LoadTrustAnchors = %v, %v", got, err)
	}
	if err := (dns.Config{TrustAnchors: got}).Validate(); err != nil {
		t.Errorf("loaded anchors do not validate: %v", err)
	}
	os.WriteFile(anchors, []byte("example. 300 IN A 192.0.2.1\n"), 0o600)
	if _, err := dns.LoadTrustAnchors(anchors); err == nil {
		t.Error("LoadTrustAnchors of a file without DS/DNSKEY succeeded")
	}
}
