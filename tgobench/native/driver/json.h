/*
 * json.h - the small JSON reader and writer of the driver protocol.
 *
 * A parsed document is a tree of json_value nodes that owns everything below
 * it. Objects keep their keys in insertion order (answers read in the order
 * they were built) and reject duplicate keys when parsed. Numbers written
 * without a fraction or exponent that fit in int64 are JSON_INT; every other
 * number is JSON_FLOAT, so a reader can tell 1000 from 1000.0. Strings are
 * validated UTF-8 and carry their length: "\u0000" is a legal character.
 *
 * Allocation failure stops the process with a message: input size is bounded
 * by the caller (the protocol caps a line), so only a broken machine runs out.
 */
#ifndef TGOBENCH_JSON_H
#define TGOBENCH_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { JSON_MAX_DEPTH = 64 };

typedef enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_INT,
    JSON_FLOAT,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type;

typedef struct json_value json_value;

typedef struct json_member {
    char *key;
    size_t key_len;
    json_value *value;
} json_member;

struct json_value {
    json_type type;
    union {
        bool boolean;
        int64_t integer;
        double number;
        struct { char *chars; size_t len; } string;       /* NUL-terminated too */
        struct { json_value **items; size_t len, cap; } array;
        struct { json_member *members; size_t len, cap; } object;
    } u;
};

/* Parse exactly one JSON value from text[0..len). On error returns NULL and
 * writes "<problem> at column N" into err. */
json_value *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(json_value *v);

/* Builders; each returns a fresh node owned by the caller until it is put
 * into a container, which then owns it. */
json_value *json_null(void);
json_value *json_bool(bool b);
json_value *json_int(int64_t i);
json_value *json_float(double d);
json_value *json_string(const char *s);
json_value *json_string_len(const char *s, size_t len);
json_value *json_array(void);
json_value *json_object(void);
void json_push(json_value *array, json_value *item);
/* Set key to value, replacing (and freeing) an existing value of that key. */
void json_set(json_value *object, const char *key, json_value *value);

/* The value of key in object, or NULL if absent or object is not one. */
json_value *json_get(const json_value *object, const char *key);
/* "an integer", "a string", ... for error messages. */
const char *json_type_phrase(const json_value *v);
/* True when v is a number with an integral value (1000 or 1e3, not 1.5). */
bool json_is_integral(const json_value *v, double *out);

/* Serialise v on one line (no newline); returns a malloc'd string. */
char *json_write(const json_value *v, size_t *len);

/* Format a user's string for an error message: quoted, escaped, shortened. */
void json_quote_for_message(const char *s, size_t len, char *out, size_t outlen);

#endif
