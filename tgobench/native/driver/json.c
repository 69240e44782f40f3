/*
 * json.c - a strict RFC 8259 reader and a one-line writer.
 *
 * The reader is recursive descent over a byte range with an explicit depth
 * limit, so no input can exhaust the stack. It accepts exactly the JSON
 * grammar: no comments, no trailing commas, no leading zeros, no bare
 * control characters or invalid UTF-8 in strings, no lone surrogates in
 * \u escapes, no duplicate keys, nothing after the value but whitespace.
 * Every error names what was expected and the column where it went wrong.
 *
 * The writer always emits valid JSON: a string holding bytes that are not
 * UTF-8 (a C message quoting raw input) gets U+FFFD for each bad byte, and a
 * non-finite double is written as null.
 */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation ---------------------------------------------------------- */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "tgobench-driver: out of memory (%zu bytes)\n", n);
        abort();
    }
    return q;
}

static void *xmalloc(size_t n) { return xrealloc(NULL, n); }

static json_value *new_value(json_type type)
{
    json_value *v = xmalloc(sizeof *v);
    memset(v, 0, sizeof *v);
    v->type = type;
    return v;
}

/* ---- UTF-8 --------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if the
 * bytes there are not one: overlong forms, surrogates and values above
 * U+10FFFF are invalid (RFC 3629 table 3.7). */
static size_t utf8_sequence_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* bounds of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- reader -------------------------------------------------------------- */

typedef struct parser {
    const char *start, *p, *end;
    int depth;
    char *err;
    size_t errlen;
    bool failed;
} parser;

__attribute__((format(printf, 3, 4)))
static void fail_at(parser *ps, const char *at, const char *fmt, ...)
{
    if (ps->failed) return;
    ps->failed = true;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->errlen, "%s at column %zu", what, (size_t)(at - ps->start) + 1);
}

/* What the reader found instead of what it wanted, for messages. */
static void describe_here(const parser *ps, char *out, size_t outlen)
{
    if (ps->p >= ps->end) {
        snprintf(out, outlen, "end of input");
        return;
    }
    unsigned char c = (unsigned char)*ps->p;
    if (c > 0x20 && c < 0x7F) snprintf(out, outlen, "'%c'", c);
    else snprintf(out, outlen, "byte 0x%02x", c);
}

static void expected(parser *ps, const char *what)
{
    char found[32];
    describe_here(ps, found, sizeof found);
    fail_at(ps, ps->p, "expected %s but found %s", what, found);
}

static void skip_space(parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static json_value *parse_value(parser *ps);

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits after "\u"; -1 (with the error set) if they are not. */
static long parse_hex4(parser *ps, const char *at)
{
    long cp = 0;
    for (int i = 0; i < 4; i++) {
        int d = at + i < ps->end ? hex_digit(at[i]) : -1;
        if (d < 0) {
            fail_at(ps, at + i, "expected 4 hex digits after \\u");
            return -1;
        }
        cp = cp * 16 + d;
    }
    return cp;
}

/* At the opening quote. The decoded string is never longer than its source,
 * so one allocation of the source span holds it. */
static bool parse_string_chars(parser *ps, char **out, size_t *out_len)
{
    const char *open = ps->p++;
    const char *q = ps->p;
    while (q < ps->end && *q != '"') q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
    if (q >= ps->end) {
        fail_at(ps, open, "unterminated string");
        return false;
    }
    char *buf = xmalloc((size_t)(q - ps->p) + 1);
    size_t n = 0;
    while (*ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p;
        if (c == '\\') {
            const char *esc = ps->p;
            char e = ps->p[1];
            ps->p += 2;
            switch (e) {
            case '"': buf[n++] = '"'; break;
            case '\\': buf[n++] = '\\'; break;
            case '/': buf[n++] = '/'; break;
            case 'b': buf[n++] = '\b'; break;
            case 'f': buf[n++] = '\f'; break;
            case 'n': buf[n++] = '\n'; break;
            case 'r': buf[n++] = '\r'; break;
            case 't': buf[n++] = '\t'; break;
            case 'u': {
                long cp = parse_hex4(ps, ps->p);
                if (cp < 0) goto fail;
                ps->p += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    fail_at(ps, esc, "lone low surrogate \\u%04lX", cp);
                    goto fail;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                        fail_at(ps, esc, "high surrogate \\u%04lX not followed by a low one", cp);
                        goto fail;
                    }
                    long lo = parse_hex4(ps, ps->p + 2);
                    if (lo < 0) goto fail;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        fail_at(ps, esc, "high surrogate \\u%04lX not followed by a low one", cp);
                        goto fail;
                    }
                    ps->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                n += utf8_encode((uint32_t)cp, buf + n);
                break;
            }
            default:
                fail_at(ps, esc, "invalid escape '\\%c' in string",
                        (e > 0x20 && e < 0x7F) ? e : '?');
                goto fail;
            }
        } else if (c < 0x20) {
            fail_at(ps, ps->p, "control character 0x%02x in string (write it as \\u%04x)", c, c);
            goto fail;
        } else {
            size_t len = utf8_sequence_len((const unsigned char *)ps->p, (size_t)(q - ps->p));
            if (len == 0) {
                fail_at(ps, ps->p, "invalid UTF-8 byte 0x%02x in string", c);
                goto fail;
            }
            memcpy(buf + n, ps->p, len);
            n += len;
            ps->p += len;
        }
    }
    ps->p++; /* closing quote */
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return true;
fail:
    free(buf);
    return false;
}

static json_value *parse_string(parser *ps)
{
    char *chars;
    size_t len;
    if (!parse_string_chars(ps, &chars, &len)) return NULL;
    json_value *v = new_value(JSON_STRING);
    v->u.string.chars = chars;
    v->u.string.len = len;
    return v;
}

static bool is_digit(const parser *ps, const char *q) { return q < ps->end && *q >= '0' && *q <= '9'; }

static json_value *parse_number(parser *ps)
{
    const char *begin = ps->p, *q = ps->p;
    bool negative = false, integral = true;
    if (*q == '-') {
        negative = true;
        q++;
    }
    if (!is_digit(ps, q)) {
        ps->p = q;
        expected(ps, "a digit");
        return NULL;
    }
    if (*q == '0') {
        q++;
        if (is_digit(ps, q)) {
            fail_at(ps, begin, "number with a leading zero");
            return NULL;
        }
    } else {
        while (is_digit(ps, q)) q++;
    }
    const char *int_end = q;
    if (q < ps->end && *q == '.') {
        integral = false;
        q++;
        if (!is_digit(ps, q)) {
            ps->p = q;
            expected(ps, "a digit after the decimal point");
            return NULL;
        }
        while (is_digit(ps, q)) q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        integral = false;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-')) q++;
        if (!is_digit(ps, q)) {
            ps->p = q;
            expected(ps, "a digit in the exponent");
            return NULL;
        }
        while (is_digit(ps, q)) q++;
    }
    ps->p = q;

    if (integral) {
        /* Magnitude up to 2^63 fits when negative, 2^63 - 1 when not. */
        uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        uint64_t m = 0;
        bool fits = true;
        for (const char *d = begin + negative; d < int_end && fits; d++) {
            unsigned digit = (unsigned)(*d - '0');
            if (m > (limit - digit) / 10) fits = false;
            else m = m * 10 + digit;
        }
        if (fits) {
            json_value *v = new_value(JSON_INT);
            v->u.integer = negative ? (int64_t)(0 - m) : (int64_t)m;
            return v;
        }
    }
    size_t span = (size_t)(q - begin);
    char small[64];
    char *text = span < sizeof small ? small : xmalloc(span + 1);
    memcpy(text, begin, span);
    text[span] = '\0';
    double d = strtod(text, NULL);
    if (text != small) free(text);
    if (!isfinite(d)) {
        fail_at(ps, begin, "number too large for a double");
        return NULL;
    }
    json_value *v = new_value(JSON_FLOAT);
    v->u.number = d;
    return v;
}

static json_value *parse_literal(parser *ps)
{
    static const struct { const char *word; json_type type; bool b; } words[] = {
        {"true", JSON_BOOL, true}, {"false", JSON_BOOL, false}, {"null", JSON_NULL, false},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i].word);
        if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, words[i].word, n) == 0) {
            ps->p += n;
            json_value *v = new_value(words[i].type);
            v->u.boolean = words[i].b;
            return v;
        }
    }
    const char *word_end = ps->p;
    while (word_end < ps->end && word_end - ps->p < 24 &&
           ((*word_end >= 'a' && *word_end <= 'z') || (*word_end >= 'A' && *word_end <= 'Z')))
        word_end++;
    if (word_end > ps->p)
        fail_at(ps, ps->p, "unknown word '%.*s': a value is an object, array, string, number, "
                "true, false or null", (int)(word_end - ps->p), ps->p);
    else
        expected(ps, "a value (object, array, string, number, true, false or null)");
    return NULL;
}

static bool enter(parser *ps)
{
    if (++ps->depth > JSON_MAX_DEPTH) {
        fail_at(ps, ps->p, "nesting deeper than %d levels", JSON_MAX_DEPTH);
        return false;
    }
    return true;
}

static json_value *parse_array(parser *ps)
{
    if (!enter(ps)) return NULL;
    json_value *arr = json_array();
    ps->p++;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        ps->depth--;
        return arr;
    }
    for (;;) {
        json_value *item = parse_value(ps);
        if (!item) goto fail;
        json_push(arr, item);
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            break;
        }
        expected(ps, "',' or ']' in array");
        goto fail;
    }
    ps->depth--;
    return arr;
fail:
    json_free(arr);
    return NULL;
}

static int compare_members(const void *a, const void *b)
{
    const json_member *x = *(json_member *const *)a, *y = *(json_member *const *)b;
    if (x->key_len != y->key_len) return x->key_len < y->key_len ? -1 : 1;
    return memcmp(x->key, y->key, x->key_len);
}

/* Sorting finds a duplicate in n log n, whatever the input's size. */
static const json_member *find_duplicate_key(const json_value *obj)
{
    size_t n = obj->u.object.len;
    if (n < 2) return NULL;
    const json_member **sorted = xmalloc(n * sizeof *sorted);
    for (size_t i = 0; i < n; i++) sorted[i] = &obj->u.object.members[i];
    qsort(sorted, n, sizeof *sorted, compare_members);
    const json_member *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (compare_members(&sorted[i - 1], &sorted[i]) == 0) dup = sorted[i];
    free(sorted);
    return dup;
}

static json_value *parse_object(parser *ps)
{
    if (!enter(ps)) return NULL;
    const char *open = ps->p;
    json_value *obj = json_object();
    ps->p++;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        ps->depth--;
        return obj;
    }
    for (;;) {
        skip_space(ps);
        if (ps->p >= ps->end || *ps->p != '"') {
            expected(ps, "a string key");
            goto fail;
        }
        char *key;
        size_t key_len;
        if (!parse_string_chars(ps, &key, &key_len)) goto fail;
        skip_space(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            free(key);
            expected(ps, "':' after the key");
            goto fail;
        }
        ps->p++;
        json_value *value = parse_value(ps);
        if (!value) {
            free(key);
            goto fail;
        }
        if (obj->u.object.len == obj->u.object.cap) {
            obj->u.object.cap = obj->u.object.cap ? 2 * obj->u.object.cap : 4;
            obj->u.object.members = xrealloc(obj->u.object.members,
                                             obj->u.object.cap * sizeof(json_member));
        }
        obj->u.object.members[obj->u.object.len++] = (json_member){key, key_len, value};
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            break;
        }
        expected(ps, "',' or '}' in object");
        goto fail;
    }
    const json_member *dup = find_duplicate_key(obj);
    if (dup) {
        char quoted[80];
        json_quote_for_message(dup->key, dup->key_len, quoted, sizeof quoted);
        fail_at(ps, open, "duplicate key %s in the object", quoted);
        goto fail;
    }
    ps->depth--;
    return obj;
fail:
    json_free(obj);
    return NULL;
}

static json_value *parse_value(parser *ps)
{
    skip_space(ps);
    if (ps->p >= ps->end) {
        expected(ps, "a value");
        return NULL;
    }
    switch (*ps->p) {
    case '{': return parse_object(ps);
    case '[': return parse_array(ps);
    case '"': return parse_string(ps);
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return parse_number(ps);
    default: return parse_literal(ps);
    }
}

json_value *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    parser ps = {.start = text, .p = text, .end = text + len, .err = err, .errlen = errlen};
    if (errlen) err[0] = '\0';
    json_value *v = parse_value(&ps);
    if (!v) return NULL;
    skip_space(&ps);
    if (ps.p < ps.end) {
        fail_at(&ps, ps.p, "unexpected text after the JSON value");
        json_free(v);
        return NULL;
    }
    return v;
}

void json_free(json_value *v)
{
    if (!v) return;
    switch (v->type) {
    case JSON_STRING: free(v->u.string.chars); break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->u.array.len; i++) json_free(v->u.array.items[i]);
        free(v->u.array.items);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->u.object.len; i++) {
            free(v->u.object.members[i].key);
            json_free(v->u.object.members[i].value);
        }
        free(v->u.object.members);
        break;
    default: break;
    }
    free(v);
}

/* ---- builders and access ------------------------------------------------- */

json_value *json_null(void) { return new_value(JSON_NULL); }

json_value *json_bool(bool b)
{
    json_value *v = new_value(JSON_BOOL);
    v->u.boolean = b;
    return v;
}

json_value *json_int(int64_t i)
{
    json_value *v = new_value(JSON_INT);
    v->u.integer = i;
    return v;
}

json_value *json_float(double d)
{
    json_value *v = new_value(JSON_FLOAT);
    v->u.number = d;
    return v;
}

json_value *json_string_len(const char *s, size_t len)
{
    json_value *v = new_value(JSON_STRING);
    v->u.string.chars = xmalloc(len + 1);
    memcpy(v->u.string.chars, s, len);
    v->u.string.chars[len] = '\0';
    v->u.string.len = len;
    return v;
}

json_value *json_string(const char *s) { return json_string_len(s, strlen(s)); }
json_value *json_array(void) { return new_value(JSON_ARRAY); }
json_value *json_object(void) { return new_value(JSON_OBJECT); }

void json_push(json_value *array, json_value *item)
{
    if (array->u.array.len == array->u.array.cap) {
        array->u.array.cap = array->u.array.cap ? 2 * array->u.array.cap : 4;
        array->u.array.items = xrealloc(array->u.array.items,
                                        array->u.array.cap * sizeof(json_value *));
    }
    array->u.array.items[array->u.array.len++] = item;
}

static json_member *find_member(const json_value *object, const char *key)
{
    if (!object || object->type != JSON_OBJECT) return NULL;
    size_t key_len = strlen(key);
    for (size_t i = 0; i < object->u.object.len; i++) {
        json_member *m = &object->u.object.members[i];
        if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0) return m;
    }
    return NULL;
}

void json_set(json_value *object, const char *key, json_value *value)
{
    json_member *m = find_member(object, key);
    if (m) {
        json_free(m->value);
        m->value = value;
        return;
    }
    if (object->u.object.len == object->u.object.cap) {
        object->u.object.cap = object->u.object.cap ? 2 * object->u.object.cap : 8;
        object->u.object.members = xrealloc(object->u.object.members,
                                            object->u.object.cap * sizeof(json_member));
    }
    size_t key_len = strlen(key);
    char *copy = xmalloc(key_len + 1);
    memcpy(copy, key, key_len + 1);
    object->u.object.members[object->u.object.len++] = (json_member){copy, key_len, value};
}

json_value *json_get(const json_value *object, const char *key)
{
    json_member *m = find_member(object, key);
    return m ? m->value : NULL;
}

const char *json_type_phrase(const json_value *v)
{
    switch (v->type) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return v->u.boolean ? "true" : "false";
    case JSON_INT: return "an integer";
    case JSON_FLOAT: return "a number with a fraction";
    case JSON_STRING: return "a string";
    case JSON_ARRAY: return "an array";
    case JSON_OBJECT: return "an object";
    }
    return "?";
}

bool json_is_integral(const json_value *v, double *out)
{
    if (v->type == JSON_INT) {
        *out = (double)v->u.integer;
        return true;
    }
    if (v->type == JSON_FLOAT && v->u.number == floor(v->u.number)) {
        *out = v->u.number;
        return true;
    }
    return false;
}

void json_quote_for_message(const char *s, size_t len, char *out, size_t outlen)
{
    enum { SHOWN = 48 };
    size_t n = 0;
    if (outlen < 8) {
        if (outlen) out[0] = '\0';
        return;
    }
    out[n++] = '\'';
    for (size_t i = 0; i < len && i < SHOWN && n + 8 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F) out[n++] = (char)c;
        else n += (size_t)snprintf(out + n, outlen - n, "\\x%02x", c);
    }
    if (len > SHOWN && n + 5 < outlen) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n++] = '\'';
    out[n] = '\0';
}

/* ---- writer -------------------------------------------------------------- */

typedef struct outbuf {
    char *data;
    size_t len, cap;
} outbuf;

static void put(outbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap) b->cap = b->cap ? 2 * b->cap : 256;
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void put_str(outbuf *b, const char *s) { put(b, s, strlen(s)); }

static void write_string(outbuf *b, const char *s, size_t len)
{
    put(b, "\"", 1);
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char hex[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                snprintf(hex, sizeof hex, "\\u%04x", c);
                esc = hex;
            }
        }
        if (esc) {
            put_str(b, esc);
            i++;
            continue;
        }
        size_t seq = utf8_sequence_len((const unsigned char *)s + i, len - i);
        if (seq == 0) {
            put_str(b, "\\ufffd");
            i++;
        } else {
            put(b, s + i, seq);
            i += seq;
        }
    }
    put(b, "\"", 1);
}

/* The shortest of %.15g and %.17g that reads back as the same double, and
 * always with a '.' or an exponent so that a reader sees a float. */
static void write_double(outbuf *b, double d)
{
    if (!isfinite(d)) {
        put_str(b, "null");
        return;
    }
    char text[40];
    snprintf(text, sizeof text, "%.15g", d);
    if (strtod(text, NULL) != d) snprintf(text, sizeof text, "%.17g", d);
    if (!strpbrk(text, ".e")) strcat(text, ".0");
    put_str(b, text);
}

static void write_value(outbuf *b, const json_value *v)
{
    char num[32];
    switch (v->type) {
    case JSON_NULL: put_str(b, "null"); break;
    case JSON_BOOL: put_str(b, v->u.boolean ? "true" : "false"); break;
    case JSON_INT:
        snprintf(num, sizeof num, "%lld", (long long)v->u.integer);
        put_str(b, num);
        break;
    case JSON_FLOAT: write_double(b, v->u.number); break;
    case JSON_STRING: write_string(b, v->u.string.chars, v->u.string.len); break;
    case JSON_ARRAY:
        put(b, "[", 1);
        for (size_t i = 0; i < v->u.array.len; i++) {
            if (i) put(b, ",", 1);
            write_value(b, v->u.array.items[i]);
        }
        put(b, "]", 1);
        break;
    case JSON_OBJECT:
        put(b, "{", 1);
        for (size_t i = 0; i < v->u.object.len; i++) {
            const json_member *m = &v->u.object.members[i];
            if (i) put(b, ",", 1);
            write_string(b, m->key, m->key_len);
            put(b, ":", 1);
            write_value(b, m->value);
        }
        put(b, "}", 1);
        break;
    }
}

char *json_write(const json_value *v, size_t *len)
{
    outbuf b = {0};
    write_value(&b, v);
    if (len) *len = b.len;
    return b.data;
}
