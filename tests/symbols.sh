#!/bin/sh
# tests/symbols.sh: the shared library exports only the public API. Every defined dynamic
# symbol must start with mpscl_ (internal mpscl__ names included in the refusal: they are
# hidden by -fvisibility=hidden, and -export-symbols-regex '^mpscl_' alone would let them out).
# Run by 'make check' with NM and MPSCL_LIB set; exit 77 (skip) when there is no shared library.

lib=${MPSCL_LIB-}
if [ -z "$lib" ] || [ ! -f "$lib" ]; then
    echo "symbols.sh: no shared library at '$lib' (static-only build?): skipped"
    exit 77
fi

# configure's NM may carry options ("nm -B"), so it is split into words on purpose.
nm_cmd=${NM:-nm}
if ! out=$($nm_cmd -D --defined-only "$lib"); then
    echo "symbols.sh: '$nm_cmd -D --defined-only $lib' failed" >&2
    exit 1
fi

# Defined code and data (global, weak, indirect), the name without any @VERSION suffix.
names=$(printf '%s\n' "$out" |
    awk 'NF >= 2 && $(NF - 1) ~ /^[TDBRWVi]$/ { n = $NF; sub(/@.*/, "", n); print n }')

# What the linker adds to every shared object is not ours to name.
bad=$(printf '%s\n' "$names" |
    grep -v -e '^mpscl_[^_]' -e '^$' |
    grep -v -x -e _init -e _fini -e _edata -e _end -e __bss_start -e _DYNAMIC \
        -e _GLOBAL_OFFSET_TABLE_ -e __data_start -e data_start -e __dso_handle -e __TMC_END__ \
        -e __bss_start__ -e __bss_end__ -e _bss_end__ -e __end__ -e _fbss -e _fdata -e _ftext)

status=0
if [ -n "$bad" ]; then
    echo "symbols.sh: $lib exports symbols outside the mpscl_ namespace:" >&2
    printf '%s\n' "$bad" | sed 's/^/  /' >&2
    status=1
fi
# A sample of the API, the copies, host-memory objects and the selector included: each must be
# exported (the filter above would pass an empty table).
for want in mpscl_device_create_default mpscl_device_create_with_selector mpscl_matrix_write \
    mpscl_matrix_encode_write mpscl_matrix_encode_read mpscl_vector_encode_write \
    mpscl_vector_encode_read mpscl_matrix_create_with_host_memory \
    mpscl_vector_create_with_host_memory \
    mpscl_matrix_batch_normalization_encode_with_running_statistics \
    mpscl_matrix_batch_normalization_gradient_set_frozen_statistics \
    mpscl_matrix_batch_normalization_set_reproducible \
    mpscl_matrix_batch_normalization_reproducible \
    mpscl_matrix_batch_normalization_statistics_rounds \
    mpscl_matrix_batch_normalization_partials_length \
    mpscl_matrix_batch_normalization_encode_partial_statistics \
    mpscl_matrix_batch_normalization_encode_combine_statistics \
    mpscl_matrix_batch_normalization_gradient_set_reproducible \
    mpscl_matrix_batch_normalization_gradient_reproducible \
    mpscl_matrix_batch_normalization_gradient_partials_length \
    mpscl_matrix_batch_normalization_gradient_encode_partial_sums \
    mpscl_matrix_batch_normalization_gradient_encode_apply; do
    if ! printf '%s\n' "$names" | grep -x "$want" >/dev/null; then
        echo "symbols.sh: $lib does not export $want" >&2
        status=1
    fi
done
[ $status -eq 0 ] && echo "symbols.sh: $(printf '%s\n' "$names" | grep -c .) symbols, all public"
exit $status
