#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# scdoc, plus the preprocessor line '\" t as the first line of a page that has a table:
# man(1) and lintian run tbl only for pages that ask for it, and groff 1.23 (Debian 13)
# warns about a table that was not preprocessed.
#   scdoc-tbl.sh SCDOC INPUT OUTPUT
set -e
"$1" <"$2" >"$3.tmp"
if grep -q '^\.TS' "$3.tmp"; then
        { printf "'\\\\\" t\n"; cat "$3.tmp"; } >"$3"
        rm -f "$3.tmp"
else
        mv "$3.tmp" "$3"
fi
