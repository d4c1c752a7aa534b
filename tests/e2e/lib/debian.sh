# SPDX-License-Identifier: LGPL-2.1-or-later
# Debian releases the suites run on (sourced by rootfs.sh, buildroot.sh, chroot.sh).
#
#   e2e_debian_releases            the supported releases, oldest first: "bookworm trixie"
#   e2e_debian_version CODENAME    12 for bookworm, 13 for trixie
#   e2e_debian_mirror CODENAME     the URI of Debian's main archive that this machine's apt
#                                  uses: the one listed for CODENAME, else the one listed for
#                                  any other supported release (a mirror serves them all),
#                                  else http://deb.debian.org/debian
#   e2e_host_codename              this machine's release (VERSION_CODENAME of os-release)

e2e_debian_releases() { echo "bookworm trixie"; }

e2e_debian_version() {
        case $1 in
        bookworm) echo 12 ;;
        trixie) echo 13 ;;
        *) return 1 ;;
        esac
}

e2e_host_codename() { (. /etc/os-release && echo "${VERSION_CODENAME:-}"); }

# The URI listed for suite $1 in one apt source file $2 (one-line or deb822 style).
e2e_debian_uri_of() {
        local suite=$1 f=$2 uri
        # one-line style: deb URI SUITE main
        uri=$(awk -v s="$suite" '$1 == "deb" && $3 == s { print $2; exit }' "$f")
        # deb822 style: URIs: … followed by Suites: … SUITE …
        [ -n "$uri" ] || uri=$(awk -v s="$suite" '/^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s && u != "") { print u; exit } }' "$f")
        [ -n "$uri" ] && echo "$uri"
}

e2e_debian_mirror() {
        local want=$1 suite f uri
        for suite in "$want" $(e2e_debian_releases); do
                for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
                        [ -f "$f" ] || continue
                        uri=$(e2e_debian_uri_of "$suite" "$f") && { echo "$uri"; return 0; }
                done
        done
        echo http://deb.debian.org/debian
}

# e2e_prune_cache CACHE PREFIX KEEP: removes CACHE/PREFIX-* other than KEEP that no run has
# used for 7 days (each use touches DIR.used) and that no run has mounted (as the lower
# directory of an overlay). Several branches with different scripts share one cache, so a
# cache of another version is not removed at once.
e2e_prune_cache() {
        local cache=$1 prefix=$2 keep=$3 old
        for old in "$cache/$prefix"-*; do
                [ -d "$old" ] || continue
                [ "$old" = "$keep" ] && continue
                [ -n "$(find "$old.used" -mtime -7 2>/dev/null)" ] && continue
                [ ! -e "$old.used" ] && [ -n "$(find "$old" -maxdepth 0 -mtime -7)" ] && continue
                grep -qF "lowerdir=$old," /proc/self/mountinfo && continue
                rm -rf --one-file-system "$old" "$old.used"
        done
}
