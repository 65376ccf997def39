#!/usr/bin/env bash
# Builds one Debian package of lantls with nfpm; called by scripts/release
# and by the packaging test.
#
# Usage: packaging/deb.sh NFPM PACKAGE VERSION DEBARCH BINARY OUTDIR
#   PACKAGE is lantls (the issuer) or lantls-agent. SOURCE_DATE_EPOCH, when
#   set, dates every file (reproducible packages).
set -euo pipefail
if (($# != 6)); then
	sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2
	exit 2
fi
nfpm=$1 pkg=$2 version=$3 arch=$4 binary=$5 outdir=$6
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

case $pkg in
lantls)
	user=lantls home=/var/lib/lantls dirs="/var/lib/lantls /var/lib/lantls-root-key" gecos="lantls issuer"
	service=lantls.service conf=issuer.conf
	summary="HTTPS certificates for devices on local networks: the issuer"
	long="The lantls issuer is an ACME server (RFC 8555) with device pairing
  (RFC 8628), an owner web UI and an authoritative DNS server for its
  zone. It signs with a built-in name-constrained CA or brokers to a public
  ACME CA. It runs as a hardened systemd service, configured in
  /etc/lantls/issuer.conf."
	extra_contents="- dst: /etc/lantls/credentials
  type: dir
  file_info: {mode: 0700}"
	;;
lantls-agent)
	user=lantls-agent home=/var/lib/lantls-agent dirs="/var/lib/lantls-agent" gecos="lantls agent"
	service=lantls-agent.service conf=agent.conf
	summary="HTTPS certificates for devices on local networks: the agent"
	long="The lantls agent runs on a device: it pairs with its owner's lantls
  issuer, gets and renews the device's HTTPS certificate, and serves HTTPS
  in front of the device's web UI or writes the certificate to files. It
  runs as a hardened systemd service, configured in /etc/lantls/agent.conf."
	extra_contents=""
	;;
*)
	echo "packaging/deb.sh: unknown package $pkg: want lantls or lantls-agent" >&2
	exit 2
	;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for s in postinst prerm postrm; do
	sed -e "s|@PACKAGE@|$pkg|g; s|@USER@|$user|g; s|@HOME@|$home|g; s|@DIRS@|$dirs|g" \
		-e "s|@SERVICE@|$service|g; s|@CONF@|/etc/lantls/$conf|g" \
		"$here/debian/$s.in" >"$work/$s"
done
printf 'u %s - "%s" %s\n' "$user" "$gecos" "$home" >"$work/sysusers.conf"
sed "s|@PACKAGE@|$pkg|g" "$here/debian/copyright" >"$work/copyright"
# A Go binary is static on purpose; the credentials dir is root's alone.
{
	echo "$pkg: statically-linked-binary [usr/bin/$pkg]"
	[[ $pkg != lantls ]] || echo "$pkg: non-standard-dir-perm 0700 != 0755 [etc/lantls/credentials/]"
} >"$work/lintian-overrides"
date=$(date -u -R -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")
printf '%s (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- lantls developers <lantls@users.noreply.github.com>  %s\n' \
	"$pkg" "$version" "$version" "$date" | gzip -9 -n >"$work/changelog.gz"

cat >"$work/nfpm.yaml" <<YAML
name: $pkg
arch: $arch
platform: linux
version: $version
version_schema: none
section: net
priority: optional
maintainer: lantls developers <lantls@users.noreply.github.com>
homepage: https://github.com/lantls/lantls
depends:
- systemd | adduser
description: |-
  $summary
  $long
contents:
- src: $binary
  dst: /usr/bin/${pkg}
  file_info: {mode: 0755}
- src: $here/systemd/$service
  dst: /lib/systemd/system/$service
  file_info: {mode: 0644}
- src: $here/etc/$conf
  dst: /etc/lantls/$conf
  type: config|noreplace
  file_info: {mode: 0644}
- src: $work/sysusers.conf
  dst: /usr/lib/sysusers.d/$user.conf
  file_info: {mode: 0644}
- src: $work/copyright
  dst: /usr/share/doc/$pkg/copyright
  file_info: {mode: 0644}
- src: $work/lintian-overrides
  dst: /usr/share/lintian/overrides/$pkg
  file_info: {mode: 0644}
- src: $work/changelog.gz
  dst: /usr/share/doc/$pkg/changelog.gz
  file_info: {mode: 0644}
$extra_contents
scripts:
  postinstall: $work/postinst
  preremove: $work/prerm
  postremove: $work/postrm
YAML
"$nfpm" package --config "$work/nfpm.yaml" --packager deb --target "$outdir/${pkg}_${version}_$arch.deb" >/dev/null
echo "  package $outdir/${pkg}_${version}_$arch.deb"
