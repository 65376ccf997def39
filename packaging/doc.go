// Package packaging holds what installs lantls the way operators expect:
// the Debian packages (deb.sh, built with nfpm by scripts/release), the
// systemd units, the commented default configuration, and the container
// image builder (cmd/lantls-image). Its tests install the packages into a
// throw-away root, verify the units and start the issuer as its unit does.
package packaging
