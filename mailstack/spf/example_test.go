package spf_test

import (
	"context"
	"fmt"
	"net"

	"scop/mailstack/dns"
	"scop/mailstack/dns/dnstest"
	"scop/mailstack/spf"
)

// ExampleCheck checks a MAIL FROM identity and renders the header pieces.
func ExampleCheck() {
	r := &dnstest.MapResolver{
		TXT:      map[string][]string{"example.org": {"v=spf1 ip4:192.0.2.0/24 -all"}},
		Security: map[string]dns.Security{"example.org": dns.Secure},
	}
	res := spf.Check(context.Background(), r, net.ParseIP("192.0.2.10"), "mail.example.org", "alice@example.org")
	fmt.Println(res.Status, res.Security)
	fmt.Println(res.AuthResults())
	fmt.Println("Received-SPF:", res.ReceivedSPF("mx.scop.example"))
	// Output:
	// pass secure
	// spf=pass smtp.mailfrom=example.org
	// Received-SPF: pass (mx.scop.example: domain of alice@example.org designates 192.0.2.10 as permitted sender) client-ip=192.0.2.10; envelope-from="alice@example.org"; helo=mail.example.org; identity=mailfrom; receiver=mx.scop.example; mechanism="ip4:192.0.2.0/24"
}
