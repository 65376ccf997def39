package web

import (
	"crypto/x509"
	"fmt"

	"github.com/lantls/lantls/devices"
)

// clientConfigs are ready-to-paste configurations of stock ACME clients
// for one device, each set up to keep renewing as its timer runs it: the
// root goes into the system store once (Trust), where certbot (through
// Debian's certifi), lego (Go) and uacme (OpenSSL) all read it, rather
// than into a variable that only the first command line has.
type clientConfigs struct {
	RootURL, Fingerprint string
	// Trust puts the root in the system store with `lantls trust`;
	// TrustByHand does it on Debian or Ubuntu without lantls.
	Trust, TrustByHand string
	// Certbot gets the certificate; certbot.timer renews it.
	Certbot string
	// Lego gets the certificate; LegoService and LegoTimer renew it.
	Lego, LegoUnit, LegoService, LegoTimer string
	Caddy, Uacme                           string
}

// rootFile is the name Caddy's configuration gives the downloaded root.
const rootFile = "lantls-root.pem"

func (s *Server) clientConfigs(c *devices.Credentials) clientConfigs {
	dir := s.cfg.Directory
	base := c.Names[0]
	var cc clientConfigs
	cc.RootURL = s.cfg.FilesURL + "/ca/root.pem"
	cc.Fingerprint = fingerprint(s.cfg.Root.Raw)
	allow := ""
	if !constrained(s.cfg.Root) {
		allow = " --allow-unconstrained"
	}
	cc.Trust = fmt.Sprintf(`lantls trust install --issuer %s --fingerprint %s%s`, s.cfg.FilesURL, cc.Fingerprint, allow)
	cc.TrustByHand = fmt.Sprintf(`curl -fsS -o /usr/local/share/ca-certificates/lantls-root.crt %s
openssl x509 -in /usr/local/share/ca-certificates/lantls-root.crt -noout -fingerprint -sha256
#   it must print %s
update-ca-certificates`, cc.RootURL, cc.Fingerprint)

	domains := ""
	for _, n := range c.Names {
		domains += " \\\n  -d '" + n + "'"
	}
	// Authorizations of the device's own names are valid at once, so no
	// challenge runs; certbot and lego still want an authenticator.
	cc.Certbot = fmt.Sprintf(`certbot certonly \
  --server %s \
  --eab-kid %s --eab-hmac-key %s \
  --manual --preferred-challenges dns --manual-auth-hook /bin/true \
  --non-interactive --agree-tos --register-unsafely-without-email \
  --cert-name %s%s`, dir, c.KID, c.HMACKey, c.Device.Label, domains)

	legoArgs := fmt.Sprintf("--server %s --accept-tos --email admin@example.com --key-type ec256 --path /etc/lego --dns exec --dns.disable-cp", dir)
	legoDomains := ""
	for _, n := range c.Names {
		legoDomains += " -d " + n
	}
	cc.Lego = fmt.Sprintf(`EXEC_PATH=/bin/true lego \
  --server %s \
  --eab --kid %s --hmac %s \
  --accept-tos --email admin@example.com --key-type ec256 --path /etc/lego \
  --dns exec --dns.disable-cp%s \
  run`, dir, c.KID, c.HMACKey, domains)
	cc.LegoUnit = "lego-" + c.Device.Label
	// systemd passes "*.L.Z" to lego as it is: no shell, no globbing.
	// lego wants the EAB flags whenever the directory requires EAB, even
	// with its account made; the key is spent by then, so it is no secret
	// in a unit file. The timer spreads renewals (RandomizedDelaySec), so
	// lego's own random sleep of up to eight minutes, which it adds when
	// not run from a terminal, is turned off.
	cc.LegoService = fmt.Sprintf(`[Unit]
Description=Renew the certificate of %s (lantls) with lego

[Service]
Type=oneshot
Environment=EXEC_PATH=/bin/true
ExecStart=/usr/bin/lego %s --eab --kid %s --hmac %s%s renew --days 30 --no-random-sleep`, base, legoArgs, c.KID, c.HMACKey, legoDomains)
	cc.LegoTimer = `[Unit]
Description=Renew the certificate of ` + base + ` (lantls) twice a day

[Timer]
OnCalendar=*-*-* 00,12:00:00
RandomizedDelaySec=1h
Persistent=true

[Install]
WantedBy=timers.target`

	cc.Caddy = fmt.Sprintf(`{
	acme_ca %s
	acme_ca_root /etc/caddy/%s
	acme_eab {
		key_id %s
		mac_key %s
	}
}

%s, *.%s {
	reverse_proxy localhost:8080
}`, dir, rootFile, c.KID, c.HMACKey, base, base)
	cc.Uacme = fmt.Sprintf(`uacme -y -c /etc/ssl/uacme -a %s -t EC \
  -e '%s:%s' new
uacme -c /etc/ssl/uacme -a %s -t EC -h /bin/true \
  issue %s '*.%s'`,
		dir, c.KID, c.HMACKey, dir, base, base)
	return cc
}

// constrained reports whether root carries name constraints, which
// `lantls trust install` asks of a root unless told otherwise.
func constrained(root *x509.Certificate) bool {
	return len(root.PermittedDNSDomains) > 0 || len(root.PermittedIPRanges) > 0 || root.PermittedDNSDomainsCritical
}
