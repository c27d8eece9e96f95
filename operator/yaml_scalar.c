/*
 * yaml_scalar.c - what a YAML scalar means, as kubectl reads it: plain
 * scalars resolved with YAML 1.1's rules, tags checked.
 */
#include "yaml_scalar.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_plain(const yaml_node_t *n)
{
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/*
 * Plain scalars are resolved as kubectl reads them (YAML 1.1, as go-yaml v2
 * and sigs.k8s.io/yaml do), so a manifest means the same to the operator as
 * to the API server: yes/no/on/off/y/n are booleans, 010 is octal, 0b101
 * binary, underscores may group digits, and a float with a whole value
 * becomes an integer in JSON.
 */
static int one_of(const char *s, const char *const *words)
{
	for (; *words != NULL; words++)
		if (strcmp(s, *words) == 0)
			return 1;
	return 0;
}

/* Copies s without underscores into out (len bytes); returns 0 when too long. */
static int strip_underscores(char *out, size_t len, const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (*s == '_')
			continue;
		if (n + 1 >= len)
			return 0;
		out[n++] = *s;
	}
	out[n] = '\0';
	return 1;
}

/* Digits of s in base; returns 1 when all of s is such digits (at least one). */
static int all_digits(const char *s, int base)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return 0;
		if (d >= base)
			return 0;
	}
	return 1;
}

/* Resolves an integer like Go's strconv.ParseInt(s, 0, 64); returns 1 when s is one. */
static int parse_int(const char *s, long long *out)
{
	const char *p = s;
	int base = 10, neg = 0;
	unsigned long long v;
	char *end = NULL;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		base = 16, p += 2;
	else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
		base = 2, p += 2;
	else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
		base = 8, p += 2;
	else if (p[0] == '0' && p[1] != '\0')
		base = 8, p += 1;
	if (!all_digits(p, base))
		return 0;
	errno = 0;
	v = strtoull(p, &end, base);
	if (errno != 0 || *end != '\0' || v > (unsigned long long)INT64_MAX + (neg ? 1 : 0))
		return 0;
	*out = neg ? (long long)(0 - v) : (long long)v;
	return 1;
}

/* Resolves a YAML 1.1 float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int parse_float(const char *s, double *out)
{
	const char *p = s;
	char *end = NULL;
	int digits = 0;

	if (*p == '+' || *p == '-')
		p++;
	while (*p >= '0' && *p <= '9')
		p++, digits++;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++, digits++;
	}
	if (digits == 0)
		return 0;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p != '\0')
		return 0;
	errno = 0;
	*out = strtod(s, &end);
	return errno == 0 && *end == '\0';
}

/* What a scalar's text resolves to, as go-yaml v2 resolves a plain scalar. */
enum scalar_kind { K_NULL, K_BOOL, K_INT, K_FLOAT, K_SPECIAL, K_STR };

/* Resolves s as a plain scalar; returns the kind and the value (NULL for K_SPECIAL). */
static json_t *resolve_plain(const char *s, size_t len, enum scalar_kind *kind)
{
	static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
	                                    "True", "TRUE", "on",  "On",  "ON",  NULL};
	static const char *const falses[] = {"n",     "N",     "no",  "No",  "NO",  "false",
	                                     "False", "FALSE", "off", "Off", "OFF", NULL};
	static const char *const specials[] = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf",
	                                       "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
	                                       ".NaN",  ".NAN",  NULL};
	char num[128];
	long long i;
	double d;

	*kind = K_STR;
	if (strlen(s) != len)
		return json_stringn(s, len);
	if (len == 0 || one_of(s, nulls))
		return *kind = K_NULL, json_null();
	if (one_of(s, trues))
		return *kind = K_BOOL, json_true();
	if (one_of(s, falses))
		return *kind = K_BOOL, json_false();
	if (one_of(s, specials))
		return *kind = K_SPECIAL, NULL;
	if (strip_underscores(num, sizeof(num), s)) {
		if (parse_int(num, &i))
			return *kind = K_INT, json_integer(i);
		if (parse_float(num, &d)) {
			*kind = K_FLOAT;
			/* JSON has one number type: a whole float is an integer to the API. */
			if (d == (double)(long long)d && d > -9.2e18 && d < 9.2e18)
				return json_integer((long long)d);
			return json_real(d);
		}
	}
	return json_stringn(s, len);
}

#define TAG_PREFIX "tag:yaml.org,2002:"

/*
 * Turns a scalar into the JSON value kubectl gives it (sigs.k8s.io/yaml over
 * go-yaml v2): without a tag a plain scalar is resolved and a quoted one is a
 * string; a written !!str or ! keeps the text; !!int, !!float, !!bool and
 * !!null resolve the text, quoted or not, and must get that type. Any other
 * tag is refused. Returns NULL with bad (len bytes) filled when the scalar
 * has no value, or NULL alone on ENOMEM.
 */
json_t *yaml_scalar_value(const yaml_node_t *n, int tagged, char *bad, size_t len)
{
	static const char *const wants[] = {"int", "float", "bool", "null", NULL};
	static const enum scalar_kind kinds[] = {K_INT, K_FLOAT, K_BOOL, K_NULL};
	const char *s = (const char *)n->data.scalar.value;
	size_t slen = n->data.scalar.length;
	const char *tag = (const char *)n->tag;
	const char *t = tag != NULL && strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0
	                    ? tag + strlen(TAG_PREFIX)
	                    : NULL;
	enum scalar_kind kind;
	json_t *v;
	size_t i;

	bad[0] = '\0';
	if (!tagged) /* the loader's default tag: resolve as written */
		t = is_plain(n) ? NULL : "str";
	if (t != NULL && strcmp(t, "str") == 0)
		return json_stringn(s, slen);
	if (t != NULL && strcmp(t, "binary") == 0) {
		snprintf(bad, len, "binary (!!binary) values are not supported");
		return NULL;
	}
	for (i = 0; t != NULL && wants[i] != NULL && strcmp(t, wants[i]) != 0; i++)
		;
	if (t != NULL && wants[i] == NULL) {
		snprintf(bad, len, "the tag !!%.100s is not supported", t);
		return NULL;
	}
	if (tag != NULL && t == NULL && tagged) {
		snprintf(bad, len, "the tag %.100s is not supported", tag);
		return NULL;
	}
	v = resolve_plain(s, slen, &kind);
	if (kind == K_SPECIAL) {
		snprintf(bad, len, "infinity and NaN cannot be represented in JSON");
		return NULL;
	}
	if (t != NULL && kind != kinds[i] && !(kinds[i] == K_FLOAT && kind == K_INT)) {
		json_decref(v);
		snprintf(bad, len, "\"%.40s\" is not a valid !!%s", s, t);
		return NULL;
	}
	return v;
}

/* Refuses a written tag on a mapping or sequence other than its own (!!map, !!seq) or "!". */
int yaml_collection_tag_ok(const yaml_node_t *n, char *bad, size_t len)
{
	const char *tag = (const char *)n->tag;
	const char *own =
	    n->type == YAML_MAPPING_NODE ? YAML_DEFAULT_MAPPING_TAG : YAML_DEFAULT_SEQUENCE_TAG;

	if (tag == NULL || strcmp(tag, own) == 0)
		return 1;
	if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0)
		snprintf(bad, len, "the tag !!%.100s is not supported here",
		         tag + strlen(TAG_PREFIX));
	else
		snprintf(bad, len, "the tag %.100s is not supported", tag);
	return 0;
}
