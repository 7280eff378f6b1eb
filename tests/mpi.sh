#!/bin/sh
# tests/mpi.sh: the MPI layer under mpirun with 1, 2, 3 and 4 ranks (tests/check_mpi), then the
# reproducible outputs of every world size compared byte for byte with one rank's, then the
# exported symbols of libmpscl-mpi. Run by 'make check' from the build directory with MPIEXEC,
# NM and MPSCL_MPI_LIB set; exit 77 (skip) without an mpirun.

mpiexec=${MPIEXEC-}
if [ -z "$mpiexec" ]; then
    echo "mpi.sh: no mpirun or mpiexec was found by configure: skipped"
    exit 77
fi
out=tests/mpi-out
rm -rf "$out" && mkdir -p "$out" || exit 1
MPSCL_MPI_TEST_OUT=$out
export MPSCL_MPI_TEST_OUT

# Open MPI refuses root without --allow-run-as-root, and more ranks than cores without
# --oversubscribe; its shared-memory transport's single-copy path needs ptrace, which containers
# often forbid. One PoCL thread per rank: the ranks already share the cores.
flags=
if "$mpiexec" --version 2>/dev/null | grep -q "Open MPI"; then
    flags="--oversubscribe"
    [ "$(id -u)" = 0 ] && flags="$flags --allow-run-as-root"
    : "${OMPI_MCA_btl_vader_single_copy_mechanism:=none}"
    export OMPI_MCA_btl_vader_single_copy_mechanism
fi
: "${POCL_MAX_PTHREAD_COUNT:=1}"
export POCL_MAX_PTHREAD_COUNT
# A guard against a rank left waiting, not a speed limit: a cold program cache (the first world
# size builds a dozen programs) on a busy machine takes minutes.
limit=
command -v timeout >/dev/null 2>&1 && limit="timeout ${MPSCL_MPI_TEST_TIMEOUT:-1200}"

status=0
for p in 1 2 3 4; do
    echo "mpi.sh: $p rank(s)"
    # shellcheck disable=SC2086
    $limit "$mpiexec" $flags -np $p ./tests/check_mpi
    rc=$?
    if [ $rc -eq 124 ]; then
        echo "mpi.sh: check_mpi with $p rank(s) timed out" >&2
        status=1
    elif [ $rc -ne 0 ]; then
        echo "mpi.sh: check_mpi failed with $p rank(s) (exit status $rc)" >&2
        status=1
    fi
done

# Reproducible mode: every world size wrote the same bytes as one rank did.
compared=0
for one in "$out"/*-P1.bin; do
    [ -f "$one" ] || continue
    for p in 2 3 4; do
        other=${one%-P1.bin}-P$p.bin
        if [ ! -f "$other" ]; then
            echo "mpi.sh: $other is missing" >&2
            status=1
        elif ! cmp "$one" "$other"; then
            echo "mpi.sh: $other differs from $one" >&2
            status=1
        else
            compared=$((compared + 1))
        fi
    done
done
if [ $compared -eq 0 ] && [ $status -eq 0 ]; then
    echo "mpi.sh: no reproducible outputs to compare" >&2
    status=1
fi
echo "mpi.sh: $compared reproducible outputs bitwise equal across world sizes"

# libmpscl-mpi exports its API and nothing else.
lib=${MPSCL_MPI_LIB-}
if [ -n "$lib" ] && [ -f "$lib" ]; then
    names=$(${NM:-nm} -D --defined-only "$lib" |
        awk 'NF >= 2 && $(NF - 1) ~ /^[TDBRWVi]$/ { n = $NF; sub(/@.*/, "", n); print n }')
    bad=$(printf '%s\n' "$names" | grep -v -e '^mpscl_mpi_[^_]' -e '^$' |
        grep -v -x -e _init -e _fini -e _edata -e _end -e __bss_start)
    if [ -n "$bad" ]; then
        echo "mpi.sh: $lib exports symbols outside mpscl_mpi_:" >&2
        printf '  %s\n' $bad >&2
        status=1
    fi
    for want in mpscl_mpi_matrix_batch_normalization_run \
        mpscl_mpi_matrix_batch_normalization_gradient_run mpscl_mpi_last_error_message; do
        printf '%s\n' "$names" | grep -x "$want" >/dev/null ||
            { echo "mpi.sh: $lib does not export $want" >&2; status=1; }
    done
fi
exit $status
