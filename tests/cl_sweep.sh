#!/bin/sh
# tests/cl_sweep.sh [SRCDIR]: every kernel variant the library can build, compiled by clang for a
# generic OpenCL 1.2 SPIR target. The tests build only the variants they run (every neuron, for
# one, only in fp32) and ask for no warnings; another vendor's compiler may reject or warn
# about a variant nobody ran. So: both families, every neuron, data kind and VW, the vectors in
# fp32 and in the data kind (and two mixes), the gradient in training mode and with frozen
# statistics (-DFROZEN=1), both families in the reproducible mode (-DREPRO=1) with one neuron,
# once with the target's extensions and once without
# cl_khr_fp64 and cl_khr_fp16 (devices may lack both; fp64 variants, which need cl_khr_fp64, only
# with it), and any diagnostic fails.
#   The -O0 IR is checked too: a function of cl/ that appears there only as a declaration has no
# body (C99 `inline` without `static` emits none), so a compiler that does not inline it is left
# with a call to nothing.
#   Environment: CLANG (default clang, 14 or later), CL_SWEEP_JOBS (parallel compiles, default the
# number of processors), CL_SWEEP_LOG (a file for every failure's full report).
set -u

# The frontend itself, so that no driver default (header search, target features) differs
# between clang versions or hosts. -O0 because OpenCL defaults to -O2, whose inlining would hide
# a helper without a body.
cl_flags="-cc1 -triple spir64-unknown-unknown -cl-std=CL1.2 -finclude-default-header -Wall -O0"
no_ext="-cl-ext=-cl_khr_fp64,-cl_khr_fp16"

# One compile (run by xargs from the main script below): FAMILY NEURON DATA MEAN VAR GAMMA BETA
# V5 V6 VW EXT FROZEN REPRO, V5 and V6 the family's own vectors (the gradient's dgamma and dbeta, the
# forward's running mean and variance, as lib/bn_launch.c names them); its report, if anything
# is wrong, goes to fail/.
one() {
    fam=$1 ext=${11} frozen=${12} repro=${13}
    v5=DGAMMA_KIND v6=DBETA_KIND
    [ "$fam" != forward ] || { v5=RUNNING_MEAN_KIND; v6=RUNNING_VAR_KIND; }
    opts="-DNEURON=$2 -DDATA_KIND=$3 -DMEAN_KIND=$4 -DVAR_KIND=$5 -DGAMMA_KIND=$6 -DBETA_KIND=$7"
    # -DSPLIT=1 always: the split phases' kernels on top of every one-device kernel.
    opts="$opts -D$v5=$8 -D$v6=$9 -DVW=${10} -DSPLIT=1"
    # As the library passes it: only when set.
    [ "$frozen" = 0 ] || opts="$opts -DFROZEN=$frozen"
    [ "$repro" = 0 ] || opts="$opts -DREPRO=$repro"
    id=$fam-n$2-d$3-v$4$5$6$7$8$9-w${10}-$ext-f$frozen-r$repro
    extra=
    [ "$ext" = on ] || extra=$no_ext
    cd "$SWEEP_WORK" || exit 1
    # Options split into words on purpose.
    $CLANG $cl_flags $extra -include-pch "$ext.pch" $opts -emit-llvm -o "ir/$id.ll" -x cl \
        "$fam.cl" >"out/$id" 2>&1
    rc=$?
    {
        [ $rc -eq 0 ] || echo "clang exited with status $rc"
        # Lines of the concatenation back to the file and line of cl/ they came from.
        [ ! -s "out/$id" ] || awk -v map="$fam.map" -v src="$fam.cl" '
            BEGIN { while ((getline l < map) > 0) { n++; split(l, f, " "); first[n] = f[1]; path[n] = f[2] } }
            index($0, src ":") == 1 {
                rest = substr($0, length(src) + 2)
                if (match(rest, /^[0-9]+/)) {
                    line = substr(rest, 1, RLENGTH) + 0
                    for (k = n; k > 1 && line < first[k]; k--)
                        ;
                    $0 = path[k] ":" (line - first[k] + 1) substr(rest, RLENGTH + 1)
                }
            }
            { print }' "out/$id"
        # Declarations: a function of cl/ (by name, or a mangled name whose base name is one)
        # fails, as does any unmangled name that is no LLVM intrinsic (OpenCL builtins are
        # overloaded, so mangled). An internal definition that is not in the list means the
        # list missed a helper, and its check would be blind to it.
        [ $rc -ne 0 ] || awk -v helpers=helpers '
            BEGIN { while ((getline h < helpers) > 0) known[h] = 1 }
            /^(declare|define) / {
                if (!match($0, /@[A-Za-z0-9_.$]+\(/))
                    next
                name = substr($0, RSTART + 1, RLENGTH - 2)
                base = name
                if (match(name, /^_Z[0-9]+/))
                    base = substr(name, RLENGTH + 1, substr(name, 3, RLENGTH - 2) + 0)
                if ($1 == "declare") {
                    if (base in known)
                        print "IR: " name " is declared, never defined: " base " of cl/ has no body at -O0"
                    else if (name !~ /^_Z/ && name !~ /^llvm\./)
                        print "IR: " name " is declared, never defined, and is no OpenCL builtin"
                } else if ($2 == "internal" && !(base in known))
                    print "IR: " name " is defined but missing from the functions found in cl/"
            }' "ir/$id.ll"
    } >"rep/$id"
    if [ -s "rep/$id" ]; then
        { echo "== $fam.cl $opts${extra:+ $extra}"; cat "rep/$id"; } >"fail/$id"
    fi
    rm -f "ir/$id.ll" "out/$id" "rep/$id"
    exit 0
}

if [ "${1-}" = --one ]; then
    shift
    one "$@"
fi

srcdir=${1:-$(dirname "$0")/..}
CLANG=${CLANG:-clang}
jobs=${CL_SWEEP_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
log=${CL_SWEEP_LOG-}
start=$(date +%s)

if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "cl-sweep: no $CLANG (Debian: apt-get install clang); CLANG=... names another" >&2
    exit 1
fi
for f in lib/program.c include/mpscl/types.h; do
    if [ ! -f "$srcdir/$f" ]; then
        echo "cl-sweep: no $srcdir/$f: pass the source tree as the argument" >&2
        exit 1
    fi
done

SWEEP_WORK=$(mktemp -d "${TMPDIR:-/tmp}/cl-sweep.XXXXXX") || exit 1
trap 'rm -rf "$SWEEP_WORK"' EXIT
trap 'exit 1' HUP INT TERM
export SWEEP_WORK CLANG
mkdir "$SWEEP_WORK/ir" "$SWEEP_WORK/out" "$SWEEP_WORK/rep" "$SWEEP_WORK/fail" || exit 1

# Each family's files, in the library's order (lib/program.c, family_files), so that the sweep
# follows the library when a family gains or loses a file.
families=$(awk '
    /family_files\[\]/ { on = 1 }
    on && /\[MPSCL__FAMILY_[A-Z_]+\] *= *\{/ {
        match($0, /MPSCL__FAMILY_[A-Z_]+/)
        fam = tolower(substr($0, RSTART + 14, RLENGTH - 14))
        sub(/^bn_/, "", fam)
        files = ""
        rest = $0
        while (match(rest, /"[^"]+"/)) {
            files = files " " substr(rest, RSTART + 1, RLENGTH - 2)
            rest = substr(rest, RSTART + RLENGTH)
        }
        print fam files
    }
    on && /^};/ { exit }' "$srcdir/lib/program.c")
if [ "$(echo "$families" | grep -c .)" -lt 2 ]; then
    echo "cl-sweep: could not read the kernel families from lib/program.c (family_files)" >&2
    exit 1
fi
echo "$families" | while read -r fam files; do
    first=1
    : >"$SWEEP_WORK/$fam.cl"
    for f in $files; do
        cat "$srcdir/cl/$f" >>"$SWEEP_WORK/$fam.cl" || exit 1
        echo "$first cl/$f" >>"$SWEEP_WORK/$fam.map"
        first=$((first + $(wc -l <"$srcdir/cl/$f")))
    done
done || exit 1

# The default header, some 800 KB of builtin declarations, parsed once per extension set instead
# of once per compile: the sweep takes less than half the time. Its include guard makes the
# -finclude-default-header of each compile a no-op, and clang refuses a header built with other
# language options or extensions.
: >"$SWEEP_WORK/empty.cl"
for ext in on off; do
    extra=
    [ "$ext" = on ] || extra=$no_ext
    if ! $CLANG $cl_flags $extra -emit-pch -o "$SWEEP_WORK/$ext.pch" -x cl "$SWEEP_WORK/empty.cl" \
        >"$SWEEP_WORK/pch.out" 2>&1 || [ -s "$SWEEP_WORK/pch.out" ]; then
        cat "$SWEEP_WORK/pch.out"
        echo "cl-sweep: $CLANG $cl_flags $extra -emit-pch failed (clang 14 or later is needed)" >&2
        exit 1
    fi
done

# Functions defined in cl/: a name at the start of a line, followed by its parameter list (the
# sources' style: the return type on the line above), outside comments; upper case names are
# macros.
for f in "$srcdir"/cl/*.cl "$srcdir"/cl/*.clh; do
    awk '{
        line = $0; out = ""
        while (line != "") {
            if (incomment) {
                p = index(line, "*/")
                if (!p) break
                line = substr(line, p + 2); incomment = 0
            } else {
                p = index(line, "/*")
                if (!p) { out = out line; break }
                out = out substr(line, 1, p - 1); line = substr(line, p + 2); incomment = 1
            }
        }
        sub(/\/\/.*/, "", out)
        if (out ~ /^[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/) {
            sub(/[ \t]*\(.*/, "", out)
            if (out !~ /^[A-Z0-9_]+$/)
                print out
        }
    }' "$f"
done | sort -u >"$SWEEP_WORK/helpers"
if [ ! -s "$SWEEP_WORK/helpers" ]; then
    echo "cl-sweep: found no functions in $srcdir/cl" >&2
    exit 1
fi

# The enumerators of an enum of types.h as "value NAME" (the kernels' -D values are the enums'
# values, and none is assigned explicitly: the awk refuses one that is).
enum_values() {
    awk -v tag="$1" '
        $0 ~ "^typedef enum " tag "[ \t]*\\{" { on = 1; next }
        !on { next }
        {
            gsub(/\/\*.*\*\//, "")
            last = sub(/}.*/, "")
            n = split($0, parts, ",")
            for (k = 1; k <= n; k++) {
                s = parts[k]
                gsub(/[ \t]/, "", s)
                if (s == "")
                    continue
                if (s ~ /=/)
                    bad = 1
                print v++, s
            }
            if (last)
                exit
        }
        END { if (bad || !v) exit 1 }' "$srcdir/include/mpscl/types.h"
}
value_of() {
    awk -v name="$2" '$2 == name { print $1 }' <<EOF
$1
EOF
}
if ! neuron_enum=$(enum_values mpscl_neuron_type) || ! kind_enum=$(enum_values mpscl_data_type); then
    echo "cl-sweep: could not read mpscl_neuron_type and mpscl_data_type from types.h" >&2
    exit 1
fi
# PReLU needs per-channel parameters: the library refuses it, and neuron.clh stops with #error.
neurons=$(echo "$neuron_enum" | awk '$2 != "MPSCL_NEURON_PRELU" { print $1 }')
kinds=$(echo "$kind_enum" | awk '{ print $1 }')
f32=$(value_of "$kind_enum" MPSCL_DATA_TYPE_FLOAT32)
f64=$(value_of "$kind_enum" MPSCL_DATA_TYPE_FLOAT64)

# Vector kinds: mean var gamma beta, then dgamma dbeta (gradient) or running mean and running
# variance (forward). Each vector is fp32 or the data kind; the two mixes put every vector beside
# one of the other kind, and, since the neuron never touches a vector, run with one neuron
# only. The gradient goes once in training mode and once with frozen statistics (the forward has
# no such option).
# Word lists on one line each, for awk -v.
awk -v fams="$(echo "$families" | awk '{ print $1 }' | tr '\n' ' ')" \
    -v neurons="$(echo "$neurons" | tr '\n' ' ')" -v kinds="$(echo "$kinds" | tr '\n' ' ')" \
    -v f32="$f32" -v f64="$f64" '
    function emit(fam, n, d, v, rmax, w, fz, rp) {
        for (rp = 0; rp <= rmax; rp++)
            for (fz = 0; fz <= (fam == "gradient"); fz++)
                for (w = 1; w <= 8; w *= 2)
                    if (w != 2) {
                        print fam, n, d, v, w, "on", fz, rp
                        if (d != f64)
                            print fam, n, d, v, w, "off", fz, rp
                    }
    }
    BEGIN {
        split(fams, F, " "); split(neurons, N, " "); split(kinds, K, " ")
        for (i = 1; i in F; i++)
            for (j = 1; j in N; j++)
                for (k = 1; k in K; k++) {
                    d = K[k]
                    emit(F[i], N[j], d, f32 " " f32 " " f32 " " f32 " " f32 " " f32, j == 1)
                    if (d == f32)
                        continue
                    emit(F[i], N[j], d, d " " d " " d " " d " " d " " d, j == 1)
                    if (j == 1) {
                        emit(F[i], N[j], d, d " " f32 " " d " " f32 " " d " " f32, 1)
                        emit(F[i], N[j], d, f32 " " d " " f32 " " d " " f32 " " d, 1)
                    }
                }
    }' | sort -u >"$SWEEP_WORK/jobs"
compiles=$(wc -l <"$SWEEP_WORK/jobs")
variants=$(awk '$11 == "on"' "$SWEEP_WORK/jobs" | wc -l)
echo "cl-sweep: $variants variants ($compiles compiles, $jobs at a time) with $CLANG"

if ! xargs -n 13 -P "$jobs" sh "$0" --one <"$SWEEP_WORK/jobs"; then
    echo "cl-sweep: a compile job did not run" >&2
    exit 1
fi

failures=$(ls "$SWEEP_WORK/fail" | wc -l)
if [ -n "$log" ]; then
    rm -f "$log"
fi
if [ "$failures" -gt 0 ]; then
    # The first few reports in full; then each distinct problem once, with how many compiles
    # showed it and one of them.
    for f in $(ls "$SWEEP_WORK/fail" | head -n 3); do
        cat "$SWEEP_WORK/fail/$f"
    done
    echo "cl-sweep: distinct problems (compiles showing each, and one of them):"
    for f in "$SWEEP_WORK"/fail/*; do
        awk 'NR == 1 { v = substr($0, 4); next }
             /^cl\/[^:]+:[0-9]+:[0-9]+: / || /^IR: / || /^clang exited/ || /^[^ ]+: (fatal )?error: / {
                 print $0 "\t" v
             }' "$f"
    done | sort -t : -k1,1 -k2,2n -k3,3n -k4 | awk -F '\t' '
        $1 != prev { if (prev != "") print "  " count " x " prev "\n      e.g. " example
                     prev = $1; count = 0; example = $2 }
        { count++ }
        END { if (prev != "") print "  " count " x " prev "\n      e.g. " example }'
    if [ -n "$log" ]; then
        cat "$SWEEP_WORK"/fail/* >"$log"
        echo "cl-sweep: every report in $log"
    fi
fi
echo "cl-sweep: $variants variants, $compiles compiles, $failures failures ($(($(date +%s) - start)) s)"
[ "$failures" -eq 0 ]
