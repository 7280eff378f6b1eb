#!/bin/sh
# docs/man-links.sh XMLDIR MAN3DIR HEADER...: after Doxygen, give every name the headers
# declare a man page of its own, so `man mpscl_matrix_batch_normalization_gradient_encode` works.
# Doxygen writes one page per group (mpscl_device.3, ...) and per struct; each function,
# typedef, enum, enum value and macro of a group gets a one-line page that sources its group's
# (".so man3/mpscl_device.3", as man-db and mandoc follow). Doxygen's own MAN_LINKS point at
# file pages, which are not made here (the headers document groups, not files).
#
# Then every public function of the headers must have a page: one that has none sits outside
# every documented group (a new header without "@defgroup ... @{"), where Doxygen extracts and
# checks nothing. That fails, naming the function. Names outside the mpscl_/MPSCL_ namespace
# (CL_TARGET_OPENCL_VERSION) get no page: they are OpenCL's to document.
set -e
xml=$1
man3=$2
shift 2
here=$(dirname "$0")

for f in "$xml"/group__*.xml; do
    group=$(sed -n 's|^ *<compoundname>\(.*\)</compoundname>$|\1|p' "$f")
    if [ ! -f "$man3/$group.3" ]; then
        echo "man-links.sh: Doxygen wrote no page $man3/$group.3 for group $group" >&2
        exit 1
    fi
    for name in $(sed -n 's|^ *<name>\(.*\)</name>$|\1|p' "$f"); do
        case $name in mpscl_* | MPSCL_*) ;; *) continue ;; esac
        [ -f "$man3/$name.3" ] || printf '.so man3/%s.3\n' "$group" >"$man3/$name.3"
    done
done

missing=
for name in $(sh "$here/api-functions.sh" "$@"); do
    [ -f "$man3/$name.3" ] || missing="$missing $name"
done
if [ -n "$missing" ]; then
    echo "man-links.sh: public functions in no documented group (no man page):" >&2
    for name in $missing; do echo "  $name" >&2; done
    echo "Wrap the header's declarations in /** @defgroup <object> <summary> ... @{ */ and" >&2
    echo "/** @} */ (docs/Doxyfile describes the convention)." >&2
    exit 1
fi
