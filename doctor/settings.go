package doctor

import "fmt"

// RebindSettings are the exemptions from DNS-rebind protection for zone,
// one per kind of resolver or router: each filter drops answers that point
// names at private addresses, unless the name is in an exempt domain.
func RebindSettings(zone string) []Setting {
	return []Setting{
		{"dnsmasq", fmt.Sprintf("rebind-domain-ok=/%s/   (in dnsmasq.conf, beside stop-dns-rebind)", zone)},
		{"Unbound", fmt.Sprintf(`server: private-domain: "%s"   (in unbound.conf, beside private-address)`, zone)},
		{"Pi-hole", fmt.Sprintf("rebind-domain-ok=/%s/   (v6: Settings > All settings > Miscellaneous > misc.dnsmasq_lines; v5: a file in /etc/dnsmasq.d/)", zone)},
		{"OpenWrt", fmt.Sprintf("uci add_list dhcp.@dnsmasq[0].rebind_domain='%s'; uci commit dhcp; /etc/init.d/dnsmasq restart   (LuCI: Network > DHCP and DNS > Filter > Domain whitelist)", zone)},
		{"pfSense", fmt.Sprintf(`Services > DNS Resolver > Custom options: server: private-domain: "%s"   (DNS Forwarder: rebind-domain-ok=/%s/ in its advanced options)`, zone, zone)},
		{"Fritz!Box", fmt.Sprintf("Home Network > Network > Network Settings > DNS Rebind Protection: add %s to the host name exceptions", zone)},
	}
}

// forwardSettings send queries for zone to the hub's DNS server at hub,
// one per kind of resolver or router. Private zones (home.arpa, internal)
// have no delegation on the internet, and a validating resolver must be
// told not to expect DNSSEC for them.
func forwardSettings(zone, hub string) []Setting {
	return []Setting{
		{"dnsmasq", fmt.Sprintf("server=/%s/%s and rebind-domain-ok=/%s/", zone, hub, zone)},
		{"Unbound", fmt.Sprintf(`stub-zone: name: "%s" stub-addr: %s; and in server: domain-insecure: "%s", private-domain: "%s" (for home.arpa also local-zone: "home.arpa." nodefault)`, zone, hub, zone, zone)},
		{"Pi-hole", fmt.Sprintf("server=/%s/%s and rebind-domain-ok=/%s/   (v6: misc.dnsmasq_lines; v5: a file in /etc/dnsmasq.d/)", zone, hub, zone)},
		{"OpenWrt", fmt.Sprintf("uci add_list dhcp.@dnsmasq[0].server='/%s/%s'; uci add_list dhcp.@dnsmasq[0].rebind_domain='%s'; uci commit dhcp; /etc/init.d/dnsmasq restart", zone, hub, zone)},
		{"pfSense", fmt.Sprintf(`Services > DNS Resolver > Domain Overrides: %s to %s; Custom options: server: private-domain: "%s" domain-insecure: "%s"`, zone, hub, zone, zone)},
		{"Fritz!Box", fmt.Sprintf("it cannot forward one zone: run a forwarder (dnsmasq, Pi-hole) with server=/%s/%s, set it in Home Network > Network > Network Settings > IPv4 Settings > Local DNS server, and add %s to the DNS Rebind Protection exceptions", zone, hub, zone)},
	}
}
