#!/bin/sh
# docs/api-functions.sh HEADER...: the names of the public functions (MPSCL_API declarations) the
# headers declare, one a line, in order. Comments and preprocessor lines are dropped, the rest
# is split into declarations at ';', and a declaration holding MPSCL_API and '(' is a function
# whose name is the identifier before its first '('. POSIX sh and awk, so 'make' needs nothing
# more; shared by docs/man-links.sh and tests/man_pages.sh.
awk '
FNR == 1 { incomment = 0 }
{
    line = $0
    out = ""
    while (line != "") {
        if (incomment) {
            i = index(line, "*/")
            if (i == 0) { line = ""; break }
            line = substr(line, i + 2)
            incomment = 0
        } else {
            i = index(line, "/*")
            if (i == 0) { out = out line; line = "" }
            else { out = out substr(line, 1, i - 1) " "; line = substr(line, i + 2); incomment = 1 }
        }
    }
    if (out ~ /^[ \t]*#/)
        next
    text = text " " out
}
END {
    n = split(text, decls, ";")
    for (k = 1; k <= n; k++) {
        d = decls[k]
        if (d !~ /MPSCL_API/ || d !~ /\(/)
            continue
        sub(/\(.*/, "", d)
        sub(/[ \t]+$/, "", d)
        if (match(d, /[A-Za-z_][A-Za-z0-9_]*$/))
            print substr(d, RSTART, RLENGTH)
    }
}' "$@"
