package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	mdns "scop/mailstack/dns"
)

func TestMapResolver(t *testing.T) {
	m := &MapResolver{
		TXT:      map[string][]string{"example.org": {"v=spf1 -all"}, "secure.example": {"hello"}},
		A:        map[string][]string{"example.org": {"192.0.2.1"}, "www.example.org": {"192.0.2.2"}},
		AAAA:     map[string][]string{"example.org": {"2001:db8::1"}},
		MX:       map[string][]*net.MX{"example.org": {{Host: "mx.example.org.", Pref: 10}}},
		PTR:      map[string][]string{"192.0.2.1": {"example.org."}, "2.2.0.192.in-addr.arpa": {"www.example.org."}},
		CNAME:    map[string]string{"alias.example.org": "www.example.org", "loop1.example": "loop2.example", "loop2.example": "loop1.example"},
		Fail:     map[string]error{"TXT down.example": fmt.Errorf("time-out: %w", mdns.ErrTemporary), "gone.example": mdns.ErrTemporary},
		Security: map[string]mdns.Security{"secure.example": mdns.Secure, "bogus.example": mdns.Bogus},
	}
	ctx := context.Background()
	tests := []struct {
		name    string
		lookup  func() (int, mdns.Security, error)
		wantN   int
		wantSec mdns.Security
		wantErr error
	}{
		{"TXT", func() (int, mdns.Security, error) {
			v, s, err := m.LookupTXT(ctx, "Example.ORG.")
			return len(v), s, err
		}, 1, mdns.Insecure, nil},
		{"TXT secure", func() (int, mdns.Security, error) {
			v, s, err := m.LookupTXT(ctx, "secure.example")
			return len(v), s, err
		}, 1, mdns.Secure, nil},
		{"TXT bogus", func() (int, mdns.Security, error) {
			v, s, err := m.LookupTXT(ctx, "bogus.example")
			return len(v), s, err
		}, 0, mdns.Bogus, mdns.ErrBogus},
		{"NODATA", func() (int, mdns.Security, error) {
			v, s, err := m.LookupTXT(ctx, "www.example.org")
			return len(v), s, err
		}, 0, mdns.Insecure, mdns.ErrNotFound},
		{"NXDOMAIN", func() (int, mdns.Security, error) {
			v, s, err := m.LookupA(ctx, "nx.example.org")
			return len(v), s, err
		}, 0, mdns.Insecure, mdns.ErrNotFound},
		{"per-type failure", func() (int, mdns.Security, error) {
			v, s, err := m.LookupTXT(ctx, "down.example")
			return len(v), s, err
		}, 0, mdns.Insecure, mdns.ErrTemporary},
		{"per-name failure", func() (int, mdns.Security, error) {
			v, s, err := m.LookupMX(ctx, "gone.example")
			return len(v), s, err
		}, 0, mdns.Insecure, mdns.ErrTemporary},
		{"CNAME followed", func() (int, mdns.Security, error) {
			v, s, err := m.LookupA(ctx, "alias.example.org")
			return len(v), s, err
		}, 1, mdns.Insecure, nil},
		{"CNAME loop", func() (int, mdns.Security, error) {
			v, s, err := m.LookupA(ctx, "loop1.example")
			return len(v), s, err
		}, 0, mdns.Insecure, mdns.ErrTemporary},
		{"IP both families", func() (int, mdns.Security, error) { v, s, err := m.LookupIP(ctx, "example.org"); return len(v), s, err }, 2, mdns.Insecure, nil},
		{"MX", func() (int, mdns.Security, error) { v, s, err := m.LookupMX(ctx, "example.org"); return len(v), s, err }, 1, mdns.Insecure, nil},
		{"PTR by address", func() (int, mdns.Security, error) {
			v, s, err := m.LookupPTR(ctx, net.ParseIP("192.0.2.1"))
			return len(v), s, err
		}, 1, mdns.Insecure, nil},
		{"PTR by reverse name", func() (int, mdns.Security, error) {
			v, s, err := m.LookupPTR(ctx, net.ParseIP("192.0.2.2"))
			return len(v), s, err
		}, 1, mdns.Insecure, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, sec, err := tt.lookup()
			if n != tt.wantN || sec != tt.wantSec || (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("got %d records, %s, %v; want %d, %s, %v", n, sec, err, tt.wantN, tt.wantSec, tt.wantErr)
			}
		})
	}
	if m.Lookups.Load() == 0 {
		t.Error("Lookups not counted")
	}
}
