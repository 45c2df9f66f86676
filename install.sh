#!/bin/sh
# install.sh: install ftl, the floating tape library, on a domain.
#
# Usage: ./install.sh [--root DIR] [--prefix DIR] [--bin-dir DIR] [--systemd yes|no|auto] [--uninstall]
#
#   --root DIR      install under DIR instead of / (testing, packaging)
#   --prefix DIR    where the binaries, man pages and completions go (default /usr/local)
#   --bin-dir DIR   take the static binaries (ftl, ftl-sim) from DIR instead of building them
#   --systemd MODE  yes: systemd units; no: the rc script, its rc links and a cron entry;
#                   auto (default): systemd units when systemd runs this host (and --root is not given)
#   --uninstall     remove exactly what an earlier run installed, and put back set-aside hooks
#
# What it installs: the static multi-call binary PREFIX/sbin/ftl and its five names (ftl-acquire,
# ftl-release, ftl-status, ftl-notify, ftl-window) as hard links to it, each acting as that
# program; the example configuration as /etc/ftl/ftl.toml, never over an
# existing one; links named like NetBackup's notify scripts in /usr/openv/netbackup/bin pointing at
# ftl-notify; /etc/init.d/ftl with rc links around NetBackup's own (S78ftl after S77netbackup,
# K76ftl before K77netbackup), or the systemd units ftl.service, ftl-window.service and
# ftl-window.timer; man pages and bash/zsh completions generated from the binaries' --help
# definitions. Everything it creates is listed in /var/lib/ftl/install.manifest, which is how
# --uninstall knows what is its own. Running it twice leaves the same tree.
#
# A notify script that is not ftl's is never destroyed: it is renamed NAME.ftl-site, ftl-notify
# runs it first with the same arguments (its failure is returned to NetBackup), and --uninstall
# puts it back.
set -eu

ROOT=
PREFIX=/usr/local
BIN_DIR=
SYSTEMD=auto
UNINSTALL=no
NB_BIN=/usr/openv/netbackup/bin
HOOKS="session_start_notify session_notify bpstart_notify bpend_notify backup_exit_notify parent_start_notify parent_end_notify"
BINARIES="ftl-acquire ftl-release ftl-status ftl-notify ftl-window"
TARGET=x86_64-unknown-linux-gnu

usage() { sed -n '3,12p' "$0" | sed 's/^# \{0,1\}//'; }
say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=${2%/}; shift 2 ;;
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=${2%/}; shift 2 ;;
    --bin-dir) [ $# -ge 2 ] || die "--bin-dir needs a directory"; BIN_DIR=$2; shift 2 ;;
    --systemd) [ $# -ge 2 ] || die "--systemd needs yes, no or auto"; SYSTEMD=$2; shift 2 ;;
    --uninstall) UNINSTALL=yes; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
case "$SYSTEMD" in yes|no|auto) ;; *) die "--systemd takes yes, no or auto, not $SYSTEMD" ;; esac
case "$PREFIX" in /*) ;; *) die "--prefix must be absolute" ;; esac
if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT" && ROOT=$(cd "$ROOT" && pwd)
fi

MANIFEST_DIR=/var/lib/ftl
MANIFEST=$MANIFEST_DIR/install.manifest
NEW_MANIFEST=

# Records one manifest line (kind path [extra]) for this run.
record() { printf '%s\n' "$*" >>"$NEW_MANIFEST"; }

# Creates DIR (a path on the target system) and each missing parent, recording those it made.
mkd() {
  _missing=
  _d=$1
  while [ ! -d "$ROOT$_d" ]; do _missing="$_d $_missing"; _d=$(dirname "$_d"); done
  for _m in $_missing; do mkdir "$ROOT$_m" && record dir "$_m"; done
}

# Installs file SRC as DEST (a target path) with MODE, atomically.
put() {
  mkd "$(dirname "$2")"
  cp "$1" "$ROOT$2.ftl-tmp"
  chmod "$3" "$ROOT$2.ftl-tmp"
  mv -f "$ROOT$2.ftl-tmp" "$ROOT$2"
  record file "$2"
}

# Makes NAME (a target path) a hard link to FILE (a target path in the same directory), atomically;
# a NAME that is FILE already is left alone (rename(2) would do nothing and leave the temporary).
hlnk() {
  if [ ! "$ROOT$1" -ef "$ROOT$2" ]; then
    rm -f "$ROOT$1.ftl-tmp"
    ln "$ROOT$2" "$ROOT$1.ftl-tmp"
    mv -f "$ROOT$1.ftl-tmp" "$ROOT$1"
  fi
  record file "$1"
}

# Makes LINK (a target path) a symbolic link to TARGET.
lnk() {
  mkd "$(dirname "$1")"
  if [ -L "$ROOT$1" ] && [ "$(readlink "$ROOT$1")" = "$2" ]; then :; else
    rm -f "$ROOT$1"
    ln -s "$2" "$ROOT$1"
  fi
  record link "$1" "$2"
}

sum() { cksum <"$1" | awk '{print $1 "-" $2}'; }

uninstall() {
  [ -f "$ROOT$MANIFEST" ] || { say "nothing of ftl is installed under ${ROOT:-/}"; exit 0; }
  if [ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1 && grep -q '^file /etc/systemd/system/ftl' "$MANIFEST"; then
    systemctl disable --now ftl.service ftl-window.timer >/dev/null 2>&1 || true
  fi
  while read -r kind path extra; do
    case "$kind" in
      link) if [ -L "$ROOT$path" ] && [ "$(readlink "$ROOT$path")" = "$extra" ]; then rm -f "$ROOT$path"; fi ;;
      file) rm -f "$ROOT$path" ;;
      config)
        if [ -f "$ROOT$path" ] && [ "$(sum "$ROOT$path")" = "$extra" ]; then rm -f "$ROOT$path"
        elif [ -f "$ROOT$path" ]; then say "kept $path: it was edited since ftl installed it"; fi ;;
    esac
  done <"$ROOT$MANIFEST"
  while read -r kind path extra; do
    if [ "$kind" = aside ] && [ -e "$ROOT$path.ftl-site" ] && [ ! -e "$ROOT$path" ] && [ ! -L "$ROOT$path" ]; then
      mv "$ROOT$path.ftl-site" "$ROOT$path"
      say "restored the site's own $path"
    fi
  done <"$ROOT$MANIFEST"
  DIRS=$(awk '$1 == "dir" { print length($2) " " $2 }' "$ROOT$MANIFEST" | sort -rn | awk '{ print $2 }')
  rm -f "$ROOT$MANIFEST"
  # Directories last, deepest first, and only when empty.
  for d in $DIRS; do rmdir "$ROOT$d" 2>/dev/null || true; done
  say "ftl removed from ${ROOT:-/}"
}

if [ "$UNINSTALL" = yes ]; then
  uninstall
  exit 0
fi

# The binaries: taken from --bin-dir, or built static from this source tree.
if [ -z "$BIN_DIR" ]; then
  SRC=$(cd "$(dirname "$0")" && pwd)
  command -v cargo >/dev/null 2>&1 || die "cargo is needed to build the binaries (or give --bin-dir)"
  say "building the static binaries (cargo build --release --target $TARGET --bin ftl --bin ftl-sim)"
  (cd "$SRC" && RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release --target "$TARGET" -p ftl-hooks --bin ftl --bin ftl-sim) \
    || die "the build failed"
  BIN_DIR=${CARGO_TARGET_DIR:-$SRC/target}/$TARGET/release
  CONFIG_SRC=$SRC/config/ftl.toml
else
  CONFIG_SRC=$(cd "$(dirname "$0")" && pwd)/config/ftl.toml
fi
for b in ftl ftl-sim; do [ -x "$BIN_DIR/$b" ] || die "$BIN_DIR/$b is missing"; done
[ -f "$CONFIG_SRC" ] || die "$CONFIG_SRC is missing"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
NEW_MANIFEST=$WORK/manifest
: >"$NEW_MANIFEST"
# Directories made by an earlier run stay ours.
if [ -f "$ROOT$MANIFEST" ]; then grep '^dir ' "$ROOT$MANIFEST" >>"$NEW_MANIFEST" || true; fi
"$BIN_DIR/ftl-sim" docs "$WORK/docs" >/dev/null || die "cannot generate the man pages"

if [ "$SYSTEMD" = auto ]; then
  if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then SYSTEMD=yes; else SYSTEMD=no; fi
fi

# The binary, and its five names as hard links: each name is the program itself (a regular file
# for `file`, checksums and packaging, as the separate binaries were), removing one cannot break
# another, and NetBackup's hooks link to ftl-notify without a second link behind it.
put "$BIN_DIR/ftl" "$PREFIX/sbin/ftl" 0755
for b in $BINARIES; do hlnk "$PREFIX/sbin/$b" "$PREFIX/sbin/ftl"; done

# The configuration: the example, never over an existing file.
CONF=/etc/ftl/ftl.toml
OLD_CONF=
[ -f "$ROOT$MANIFEST" ] && OLD_CONF=$(grep "^config $CONF " "$ROOT$MANIFEST" || true)
if [ ! -e "$ROOT$CONF" ]; then
  mkd /etc/ftl
  cp "$CONFIG_SRC" "$ROOT$CONF.ftl-tmp" && chmod 0644 "$ROOT$CONF.ftl-tmp" && mv "$ROOT$CONF.ftl-tmp" "$ROOT$CONF"
  record config "$CONF" "$(sum "$ROOT$CONF")"
  say "installed the example configuration as $CONF: edit it for this site"
elif [ -n "$OLD_CONF" ]; then
  printf '%s\n' "$OLD_CONF" >>"$NEW_MANIFEST"
else
  say "kept the existing $CONF"
fi

# NetBackup notify scripts: links to ftl-notify; a site's own script is set aside, not lost.
for h in $HOOKS; do
  P=$NB_BIN/$h
  if [ -L "$ROOT$P" ] && [ "$(readlink "$ROOT$P")" = "$PREFIX/sbin/ftl-notify" ]; then :
  elif [ -e "$ROOT$P" ] || [ -L "$ROOT$P" ]; then
    [ -e "$ROOT$P.ftl-site" ] && die "$P is not ftl's and $P.ftl-site exists already; move one of them away first"
    mv "$ROOT$P" "$ROOT$P.ftl-site"
    say "set aside the site's own $P as $P.ftl-site: ftl-notify runs it first, and --uninstall puts it back"
    record aside "$P"
  fi
  if [ -f "$ROOT$MANIFEST" ] && grep -qx "aside $P" "$ROOT$MANIFEST"; then record aside "$P"; fi
  lnk "$P" "$PREFIX/sbin/ftl-notify"
done

if [ "$SYSTEMD" = yes ]; then
  cat >"$WORK/ftl.service" <<EOF
# Installed by ftl's install.sh.
[Unit]
Description=ftl: bring the shared tape library up at boot, release it at shutdown
After=network-online.target remote-fs.target netbackup.service
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=$PREFIX/sbin/ftl-acquire --at-boot
ExecStop=$PREFIX/sbin/ftl-release --at-shutdown
TimeoutStartSec=1h
TimeoutStopSec=1h

[Install]
WantedBy=multi-user.target
EOF
  cat >"$WORK/ftl-window.service" <<EOF
# Installed by ftl's install.sh.
[Unit]
Description=ftl: move the shared tape library by the backup windows
After=ftl.service

[Service]
Type=oneshot
ExecStart=$PREFIX/sbin/ftl-window tick
EOF
  cat >"$WORK/ftl-window.timer" <<EOF
# Installed by ftl's install.sh.
[Unit]
Description=ftl: window tick every minute

[Timer]
OnCalendar=minutely
AccuracySec=5s

[Install]
WantedBy=timers.target
EOF
  for u in ftl.service ftl-window.service ftl-window.timer; do put "$WORK/$u" "/etc/systemd/system/$u" 0644; done
else
  cat >"$WORK/ftl.rc" <<EOF
#!/bin/sh
# /etc/init.d/ftl: the floating tape library at boot and shutdown. Installed by ftl's install.sh.
# Linked as S78ftl (after S77netbackup: the drives can only come up once NetBackup runs) and
# K76ftl (before K77netbackup: releasing needs NetBackup to mark the drives down).
case "\$1" in
  start) exec $PREFIX/sbin/ftl-acquire --at-boot ;;
  stop) exec $PREFIX/sbin/ftl-release --at-shutdown ;;
  status) exec $PREFIX/sbin/ftl-status ;;
  *) echo "Usage: \$0 { start | stop | status }" >&2; exit 1 ;;
esac
EOF
  put "$WORK/ftl.rc" /etc/init.d/ftl 0755
  lnk /etc/rc2.d/S78ftl ../init.d/ftl
  for r in 0 1; do lnk "/etc/rc$r.d/K76ftl" ../init.d/ftl; done
  if [ -d "$ROOT/etc/cron.d" ]; then
    printf '# Installed by ftl'"'"'s install.sh: the window tick, every minute.\n* * * * * root %s/sbin/ftl-window tick -q\n' "$PREFIX" >"$WORK/cron"
    put "$WORK/cron" /etc/cron.d/ftl 0644
  else
    say "add to root's crontab: * * * * * $PREFIX/sbin/ftl-window tick -q"
  fi
fi

# Man pages and completions, from the same definitions as --help.
for b in $BINARIES; do
  # The binary's page and its subcommands' (ftl-window-tick.1), which it points to.
  for page in "$WORK/docs/man1/$b.1" "$WORK/docs/man1/$b"-*.1; do
    if [ -f "$page" ]; then put "$page" "$PREFIX/share/man/man1/${page##*/}" 0644; fi
  done
  put "$WORK/docs/bash/$b" "$PREFIX/share/bash-completion/completions/$b" 0644
  put "$WORK/docs/zsh/_$b" "$PREFIX/share/zsh/site-functions/_$b" 0644
done

mkd "$MANIFEST_DIR"
sort -u "$NEW_MANIFEST" >"$WORK/manifest.sorted"
cp "$WORK/manifest.sorted" "$ROOT$MANIFEST.ftl-tmp" && chmod 0644 "$ROOT$MANIFEST.ftl-tmp" && mv "$ROOT$MANIFEST.ftl-tmp" "$ROOT$MANIFEST"

if [ "$SYSTEMD" = yes ] && [ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload && systemctl enable ftl.service ftl-window.timer >/dev/null 2>&1 || say "enable the units: systemctl enable --now ftl.service ftl-window.timer"
fi
say "installed under ${ROOT:-/} (manifest: $MANIFEST)"
