/* The device selector (lib/device_select.h): parsing and matching, with no OpenCL call. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "device_select.h"

/* ASCII only, never the locale's: the same selector must choose the same device whatever
 * setlocale the application made. */
static int
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char
lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int
equal_nocase(const char *s, size_t n, const char *word)
{
    size_t i = 0;

    for (; i < n && word[i] != '\0'; i++)
        if (lower(s[i]) != lower(word[i]))
            return 0;
    return i == n && word[i] == '\0';
}

static int
contains_nocase(const char *hay, const char *needle, size_t n)
{
    for (; *hay != '\0'; hay++) {
        size_t i = 0;
        while (i < n && hay[i] != '\0' && lower(hay[i]) == lower(needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return n == 0;
}

/* A printable rendering of c for a message: control bytes and non-ASCII as hex. */
static const char *
show_char(char c, char buf[8])
{
    unsigned char u = (unsigned char)c;

    if (u >= 0x20 && u < 0x7f)
        snprintf(buf, 8, "'%c'", c);
    else
        snprintf(buf, 8, "0x%02x", u);
    return buf;
}

/* One decimal index of the "<platform>:<device>" form, from s[*at] up to (not including) end;
 * which names it in messages. */
static int
parse_index(const char *s, size_t *at, size_t end, const char *which, cl_uint *out, char *why,
            size_t why_size)
{
    size_t i = *at, start = *at;
    unsigned long long v = 0;
    char cb[8];

    if (i == end || !is_digit(s[i])) {
        if (i == end || s[i] == ':')
            snprintf(why, why_size, "the %s index %s ':' is missing", which,
                     which[0] == 'p' ? "before" : "after");
        else
            snprintf(why, why_size, "the %s index must be a decimal number, found %s", which,
                     show_char(s[i], cb));
        return 0;
    }
    for (; i < end && is_digit(s[i]); i++) {
        v = v * 10 + (unsigned long long)(s[i] - '0');
        if (v > CL_UINT_MAX) {
            while (i < end && is_digit(s[i]))
                i++;
            snprintf(why, why_size, "the %s index %.*s is larger than %u", which,
                     (int)(i - start > 40 ? 40 : i - start), s + start, (unsigned)CL_UINT_MAX);
            return 0;
        }
    }
    *out = (cl_uint)v;
    *at = i;
    return 1;
}

mpscl_status
mpscl__selector_parse(const char *text, mpscl__selector *out, char *why, size_t why_size)
{
    size_t b = 0, e = strlen(text), at;
    char cb[8];

    memset(out, 0, sizeof *out);
    if (why_size > 0)
        why[0] = '\0';
    /* Blanks around the selector come with values pasted into shells and configuration files;
     * they never mean anything. */
    while (b < e && is_blank(text[b]))
        b++;
    while (e > b && is_blank(text[e - 1]))
        e--;
    if (b == e) {
        out->kind = MPSCL__SELECT_DEFAULT;
        return MPSCL_SUCCESS;
    }
    if (equal_nocase(text + b, e - b, "gpu") || equal_nocase(text + b, e - b, "cpu")) {
        out->kind = MPSCL__SELECT_TYPE;
        out->type = lower(text[b]) == 'g' ? CL_DEVICE_TYPE_GPU : CL_DEVICE_TYPE_CPU;
        return MPSCL_SUCCESS;
    }
    /* Index form: a colon somewhere and a start that no sensible name fragment has. Names may
     * hold colons themselves (AMD's "gfx90a:sramecc+:xnack-"), so a colon alone does not make
     * the index form; a malformed pair is refused rather than searched for among the names,
     * where it would only ever fail to match. */
    if (memchr(text + b, ':', e - b) != NULL &&
        (is_digit(text[b]) || text[b] == ':' || text[b] == '+' || text[b] == '-')) {
        at = b;
        if (!parse_index(text, &at, e, "platform", &out->platform, why, why_size))
            return MPSCL_ERROR_INVALID_ARGUMENT;
        if (text[at] != ':') {
            snprintf(why, why_size, "expected ':' after the platform index, found %s",
                     show_char(text[at], cb));
            return MPSCL_ERROR_INVALID_ARGUMENT;
        }
        at++;
        if (!parse_index(text, &at, e, "device", &out->device, why, why_size))
            return MPSCL_ERROR_INVALID_ARGUMENT;
        if (at != e) {
            snprintf(why, why_size, "unexpected %s after the device index",
                     show_char(text[at], cb));
            return MPSCL_ERROR_INVALID_ARGUMENT;
        }
        out->kind = MPSCL__SELECT_INDEX;
        return MPSCL_SUCCESS;
    }
    out->kind = MPSCL__SELECT_NAME;
    out->name = text + b;
    out->name_len = e - b;
    return MPSCL_SUCCESS;
}

int
mpscl__selector_needs_type(const mpscl__selector *sel)
{
    return sel->kind == MPSCL__SELECT_DEFAULT || sel->kind == MPSCL__SELECT_TYPE;
}

int
mpscl__selector_needs_name(const mpscl__selector *sel)
{
    return sel->kind == MPSCL__SELECT_NAME;
}

size_t
mpscl__selector_match(const mpscl__selector *sel, const mpscl__device_desc *list, size_t count)
{
    switch (sel->kind) {
    case MPSCL__SELECT_DEFAULT:
        for (size_t i = 0; i < count; i++)
            if (list[i].type & CL_DEVICE_TYPE_GPU)
                return i;
        return 0;   /* count when the list is empty */
    case MPSCL__SELECT_TYPE:
        for (size_t i = 0; i < count; i++)
            if (list[i].type & sel->type)
                return i;
        return count;
    case MPSCL__SELECT_INDEX:
        for (size_t i = 0; i < count; i++)
            if (list[i].platform == sel->platform && list[i].device == sel->device)
                return i;
        return count;
    case MPSCL__SELECT_NAME:
        for (size_t i = 0; i < count; i++)
            if (list[i].name != NULL && contains_nocase(list[i].name, sel->name, sel->name_len))
                return i;
        return count;
    }
    return count;
}
