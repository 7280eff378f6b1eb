#!/bin/sh
# tests/man_pages.sh: the manual is complete ('make check'; srcdir from the test harness, the
# build tree as the current directory). Section 3, made by Doxygen from the headers (the build
# tree's docs/api/man/man3, or docs/man3 of a release tarball): a page for every public function
# of include/mpscl/*.h, one per object plus mpscl(3), and the gradient's page states every
# parameter of its calls (each @param in the header), their return statuses and the thread
# rules. Section 1, written by hand (man/): a page for every tool, naming every option the
# tool's --help lists. Exit 77 (skip) only when no section 3 pages exist (a git checkout
# configured without Doxygen).
srcdir=${srcdir:-.}
status=0
fail() {
    echo "man_pages.sh: $*" >&2
    status=1
}

if [ -f docs/api/man/man3/mpscl.3 ]; then
    man3=docs/api/man/man3
elif [ -f "$srcdir/docs/man3/mpscl.3" ]; then
    man3=$srcdir/docs/man3
else
    echo "man_pages.sh: no section 3 pages (configure found no Doxygen): skipped"
    exit 77
fi

headers=$(ls "$srcdir"/include/mpscl/*.h)
count=0
for name in $(sh "$srcdir/docs/api-functions.sh" $headers); do
    count=$((count + 1))
    [ -f "$man3/$name.3" ] || fail "no page for $name in $man3"
done
[ "$count" -gt 100 ] || fail "only $count public functions found in the headers"

for page in mpscl mpscl_device mpscl_command_buffer mpscl_matrix \
    mpscl_matrix_batch_normalization mpscl_matrix_batch_normalization_gradient; do
    if [ ! -f "$man3/$page.3" ] || grep -q '^\.so ' "$man3/$page.3"; then
        fail "$man3/$page.3 is not an object page"
    fi
done
grep -q 'MPSMatrixBatchNormalizationGradient' "$man3/mpscl.3" || fail "mpscl(3) lacks the MPS names"

# Every documented parameter of the gradient's header appears on its page, set as a parameter.
page=$man3/mpscl_matrix_batch_normalization_gradient.3
params=$(sed -n 's/^ \* @param \([a-z_]*\) .*/\1/p' \
    "$srcdir/include/mpscl/matrix_batch_normalization_gradient.h" | sort -u)
[ -n "$params" ] || fail "matrix_batch_normalization_gradient.h documents no @param"
for p in $params; do
    grep -q "^\\\\fI$p\\\\fP " "$page" || fail "$page does not state parameter $p"
done
for word in 'Thread safety' 'Returns' 'MPSCL_ERROR_INVALID_ARGUMENT' 'MPSCL_ERROR_INVALID_STATE' \
    'MPSCL_ERROR_DEVICE_MISMATCH' 'MPSCL_ERROR_OUT_OF_RANGE' 'MPSCL_ERROR_INVALID_SHAPE' \
    'MPSCL_ERROR_INVALID_DATA_TYPE' 'MPSCL_ERROR_UNSUPPORTED' 'MPSCL_ERROR_CORRUPT_DATA'; do
    grep -q "$word" "$page" || fail "$page does not mention $word"
done

# man(1) resolves a per-call page to its object's, as an installed manual would.
if command -v man >/dev/null 2>&1; then
    root=$(dirname "$man3")
    if [ "$(basename "$man3")" = man3 ]; then
        got=$(man -M "$root" -w mpscl_matrix_batch_normalization_gradient_encode 2>/dev/null)
        case $got in
        */mpscl_matrix_batch_normalization_gradient.3*) ;;
        *) fail "man -M $root -w mpscl_matrix_batch_normalization_gradient_encode gave '$got'" ;;
        esac
    fi
fi

# Section 1: each tool's page names every long option its --help lists.
for tool in ${TOOLS:-tools/mpscl-info tools/mpscl-demo tools/mpscl-bench tools/mpscl-train}; do
    name=$(basename "$tool")
    page=$srcdir/man/$name.1
    if [ ! -f "$page" ]; then
        fail "no section 1 page $page"
        continue
    fi
    help=$("$tool" --help) || fail "$tool --help failed"
    for opt in $(printf '%s\n' "$help" | grep -o -e '--[a-z][a-z0-9-]*' | sort -u); do
        esc=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
        grep -q -e "$esc" "$page" || fail "$page does not document $opt (from $name --help)"
    done
done

[ $status -eq 0 ] && echo "man_pages.sh: $count functions with pages in $man3; section 1 complete"
exit $status
