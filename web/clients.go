package web

import (
	"fmt"
	"strings"

	"github.com/lantls/lantls/devices"
)

// clientConfigs are ready-to-paste configurations of stock ACME clients
// for one device. They expect the root saved as lantls-root.pem.
type clientConfigs struct {
	RootURL, Certbot, Lego, Caddy, Uacme string
}

// rootFile is the name the configurations give the downloaded root.
const rootFile = "lantls-root.pem"

func (s *Server) clientConfigs(c *devices.Credentials) clientConfigs {
	dir := s.cfg.Directory
	base := c.Names[0]
	domains := ""
	for _, n := range c.Names {
		domains += " \\\n  -d '" + n + "'"
	}
	var cc clientConfigs
	cc.RootURL = strings.TrimSuffix(s.cfg.BaseURL, "/") + "/ca/root.pem"
	// Authorizations of the device's own names are valid at once, so no
	// challenge runs; certbot and lego still want an authenticator.
	cc.Certbot = fmt.Sprintf(`REQUESTS_CA_BUNDLE=%s certbot certonly \
  --server %s \
  --eab-kid %s --eab-hmac-key %s \
  --manual --preferred-challenges dns --manual-auth-hook /bin/true \
  --non-interactive --agree-tos --register-unsafely-without-email \
  --cert-name %s%s`, rootFile, dir, c.KID, c.HMACKey, c.Device.Label, domains)
	cc.Lego = fmt.Sprintf(`EXEC_PATH=/bin/true LEGO_CA_CERTIFICATES=%s lego \
  --server %s \
  --eab --kid %s --hmac %s \
  --accept-tos --email admin@example.com --key-type ec256 \
  --dns exec --dns.disable-cp%s \
  run`, rootFile, dir, c.KID, c.HMACKey, domains)
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
	cc.Uacme = fmt.Sprintf(`# uacme reads the system trust store: add %s to it first
#   cp %s /usr/local/share/ca-certificates/lantls-root.crt
#   update-ca-certificates
uacme -y -c /etc/ssl/uacme -a %s -t EC \
  -e '%s:%s' new
uacme -c /etc/ssl/uacme -a %s -t EC -h /bin/true \
  issue %s '*.%s'`,
		rootFile, rootFile, dir, c.KID, c.HMACKey, dir, base, base)
	return cc
}
