package dns

import (
	"context"
	"strconv"
	"testing"
	"time"

	miekg "github.com/miekg/dns"
)

func mustRR(tb testing.TB, s string) miekg.RR {
	tb.Helper()
	r, err := miekg.NewRR(s)
	if err != nil {
		tb.Fatalf("NewRR(%q): %v", s, err)
	}
	return r
}

func packMsg(tb testing.TB, rcode int, answer, ns []string) []byte {
	tb.Helper()
	m := new(miekg.Msg)
	m.SetQuestion("www.example.", miekg.TypeA)
	m.Response, m.Rcode = true, rcode
	for _, s := range answer {
		m.Answer = append(m.Answer, mustRR(tb, s))
	}
	for _, s := range ns {
		m.Ns = append(m.Ns, mustRR(tb, s))
	}
	b, err := m.Pack()
	if err != nil {
		tb.Fatalf("Pack: %v", err)
	}
	return b
}

// FuzzDNSAnswer feeds arbitrary bytes as the upstream's response to every
// query (answers, DS and DNSKEY alike) through the validating path: it
// must never panic, and never call anything Secure, since no input can
// match the trust anchor's digest without its key.
func FuzzDNSAnswer(f *testing.F) {
	key := &miekg.DNSKEY{Hdr: miekg.RR_Header{Name: ".", Rrtype: miekg.TypeDNSKEY, Class: miekg.ClassINET, Ttl: 3600},
		Flags: 257, Protocol: 3, Algorithm: miekg.ED25519}
	if _, err := key.Generate(256); err != nil {
		f.Fatal(err)
	}
	anchor := key.ToDS(miekg.SHA256).String()
	sig := "www.example. 300 IN RRSIG A 15 2 300 20300101000000 20200101000000 12345 example. AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	f.Add(packMsg(f, 0, []string{"www.example. 300 IN A 192.0.2.1", sig}, nil))
	f.Add(packMsg(f, 0, []string{"www.example. 300 IN CNAME a.example.", "a.example. 300 IN CNAME www.example."}, nil))
	f.Add(packMsg(f, 3, nil, []string{
		"example. 300 IN SOA ns.example. h.example. 1 2 3 4 300",
		"a.example. 300 IN NSEC z.example. A RRSIG NSEC",
		"example. 300 IN NSEC a.example. SOA NS RRSIG NSEC DNSKEY",
	}))
	f.Add(packMsg(f, 0, nil, []string{
		"example. 300 IN SOA ns.example. h.example. 1 2 3 4 300",
		"2T7B4G4VSA5SMI47K61MV5BV1A22BOJR.example. 300 IN NSEC3 1 1 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJS A RRSIG",
	}))
	f.Add(packMsg(f, 0, []string{
		". 300 IN DNSKEY 257 3 15 " + key.PublicKey,
		". 300 IN RRSIG DNSKEY 15 0 300 20300101000000 20200101000000 " + strconv.Itoa(int(key.KeyTag())) + " . AAAA",
		"www.example. 300 IN DS 1 15 2 0000000000000000000000000000000000000000000000000000000000000000",
	}, nil))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, anchors := range [][]string{{anchor}, {}} {
			r, err := NewValidatingResolver(Config{Upstreams: []string{"127.0.0.1:1"}, TrustAnchors: anchors, CacheSize: 16})
			if err != nil {
				t.Fatal(err)
			}
			r.exchange = func(ctx context.Context, q *miekg.Msg) (*miekg.Msg, error) {
				m := new(miekg.Msg)
				if err := m.Unpack(data); err != nil {
					return nil, err
				}
				m.Id = q.Id
				if len(m.Question) == 1 {
					// Answer the question asked, to reach validation.
					m.Question[0] = q.Question[0]
				}
				return m, nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			for _, qt := range []uint16{miekg.TypeA, miekg.TypeTXT, miekg.TypeDS, miekg.TypeDNSKEY} {
				ans, _ := r.Lookup(ctx, "www.example.", qt)
				if ans != nil && ans.Security == Secure && len(anchors) > 0 {
					t.Fatalf("Lookup(%s) of fuzzed data is Secure", miekg.TypeToString[qt])
				}
			}
			cancel()
		}
	})
}

// TestCanonicalCompare checks the RFC 4034 §6.1 example order.
func TestCanonicalCompare(t *testing.T) {
	ordered := []string{"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example."}
	for i := 0; i+1 < len(ordered); i++ {
		if c := canonicalCompare(ordered[i], ordered[i+1]); c >= 0 {
			t.Errorf("canonicalCompare(%q, %q) = %d, want < 0", ordered[i], ordered[i+1], c)
		}
	}
}
