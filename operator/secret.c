/*
 * secret.c - the password source interface and the sources that need no
 * network: files and Kubernetes Secret objects already in hand.
 */
#include "secret.h"

#include "base64.h"
#include "dynbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_FILE_MAX 65536

void secret_resolver_set(struct secret_resolver *r, enum secret_kind kind, secret_fetch_fn fetch,
                         void *ctx)
{
	r->providers[kind].fetch = fetch;
	r->providers[kind].invalidate = NULL;
	r->providers[kind].ctx = ctx;
}

int secret_resolve(struct secret *out, const struct secret_resolver *r,
                   const struct secret_ref *ref, const char *default_ns, const char *user,
                   struct err *err)
{
	const struct secret_provider *p;
	struct secret_ref local;
	char desc[512];
	int rc;

	if (ref->kind <= SECRET_NONE || ref->kind >= SECRET_KIND_COUNT)
		return err_set(err, APPDB_EINVAL, "no password source given");
	p = &r->providers[ref->kind];
	if (p->fetch == NULL) {
		secret_ref_describe(desc, sizeof(desc), ref);
		return err_set(err, APPDB_ENOTFOUND,
		               "%s: this kind of source is not available here", desc);
	}
	local = *ref;
	if (ref->kind == SECRET_KUBE && ref->ns == NULL)
		local.ns = (char *)default_ns;
	rc = p->fetch(p->ctx, out, &local, err);
	if (rc != 0)
		return rc;
	/* A LOGIN role without a password, or with another user's, is never made. */
	if (out->value == NULL || out->value[0] == '\0')
		rc = err_set(err, APPDB_EINVAL, "the password is empty");
	else if (user != NULL && out->username != NULL && strcmp(out->username, user) != 0)
		rc = err_set(err, APPDB_EINVAL, "the secret names user \"%.64s\", not \"%s\"",
		             out->username, user);
	if (rc != 0)
		secret_clear(out);
	return rc;
}

void secret_invalidate(const struct secret_resolver *r, const struct secret_ref *ref)
{
	if (ref->kind > SECRET_NONE && ref->kind < SECRET_KIND_COUNT &&
	    r->providers[ref->kind].invalidate != NULL)
		r->providers[ref->kind].invalidate(r->providers[ref->kind].ctx);
}

int secret_error_is_missing(int code)
{
	return code == APPDB_ENOTFOUND || code == APPDB_EFORBIDDEN || code == APPDB_EINVAL ||
	       code == APPDB_EUNAUTHORIZED;
}

void secret_wipe_json(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_string(j)) {
		OPENSSL_cleanse((char *)json_string_value(j), json_string_length(j));
	} else if (json_is_object(j)) {
		json_object_foreach (j, k, v) {
			secret_wipe_json(v);
		}
	} else if (json_is_array(j)) {
		json_array_foreach (j, i, v) {
			secret_wipe_json(v);
		}
	}
}

void secret_clear(struct secret *s)
{
	if (s->value != NULL) {
		OPENSSL_cleanse(s->value, strlen(s->value));
		free(s->value);
	}
	free(s->version);
	free(s->username);
	s->value = NULL;
	s->version = NULL;
	s->username = NULL;
}

void secret_ref_clear(struct secret_ref *ref)
{
	free(ref->secret_id);
	free(ref->ns);
	free(ref->name);
	free(ref->key);
	free(ref->path);
	memset(ref, 0, sizeof(*ref));
}

void secret_ref_describe(char *out, size_t len, const struct secret_ref *ref)
{
	switch (ref->kind) {
	case SECRET_AWS_SM:
		snprintf(out, len, "secretsManager %s%s%s", ref->secret_id ? ref->secret_id : "",
		         ref->key ? " key " : "", ref->key ? ref->key : "");
		break;
	case SECRET_KUBE:
		snprintf(out, len, "kubernetesSecret %s%s%s key %s", ref->ns ? ref->ns : "",
		         ref->ns ? "/" : "", ref->name ? ref->name : "", ref->key ? ref->key : "");
		break;
	case SECRET_FILE:
		snprintf(out, len, "file %s", ref->path ? ref->path : "");
		break;
	default:
		snprintf(out, len, "no source");
		break;
	}
}

/* Decodes standard base64 (as Kubernetes encodes Secret data) into *out and its length. */
static int b64_decode(char **out, size_t *out_len, const char *in)
{
	return base64_decode(out, out_len, in, strlen(in), BASE64_STRICT);
}

/*
 * One key of a Secret object: stringData[key] (a manifest's), else base64
 * data[key], as the API server merges them. Returns 0, APPDB_ENOTFOUND,
 * APPDB_EINVAL (not base64, or a NUL byte inside: never truncated).
 */
static int kube_key(char **out, json_t *obj, const char *key, struct err *err)
{
	json_t *v = json_object_get(json_object_get(obj, "stringData"), key);
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (json_is_string(v)) {
		len = json_string_length(v);
		buf = malloc(len + 1);
		if (buf == NULL)
			return APPDB_ENOMEM;
		memcpy(buf, json_string_value(v), len + 1);
	} else {
		v = json_object_get(json_object_get(obj, "data"), key);
		if (!json_is_string(v))
			return err_set(err, APPDB_ENOTFOUND, "key %s not found in the secret", key);
		rc = b64_decode(&buf, &len, json_string_value(v));
		if (rc == APPDB_EINVAL)
			return err_set(err, rc, "key %s of the secret is not valid base64 text",
			               key);
		if (rc != 0)
			return rc;
	}
	if (memchr(buf, '\0', len) != NULL) {
		dynbuf_wipe_free(buf, len);
		return err_set(err, APPDB_EINVAL, "key %s of the secret holds a NUL byte", key);
	}
	*out = buf;
	return 0;
}

int secret_from_kube_object(struct secret *out, json_t *obj, const char *key, struct err *err)
{
	const char *rv;
	int rc;

	rc = kube_key(&out->value, obj, key, err);
	if (rc != 0)
		return rc;
	if (strcmp(key, "username") != 0) {
		rc = kube_key(&out->username, obj, "username", err);
		if (rc == APPDB_ENOTFOUND) {
			err_clear(err);
			rc = 0;
		}
	}
	rv =
	    json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	if (rc == 0 && rv != NULL && (out->version = strdup(rv)) == NULL)
		rc = APPDB_ENOMEM;
	if (rc != 0)
		secret_clear(out);
	return rc;
}

/* Copies the string v into *out; APPDB_EINVAL (with what in err) when it holds a NUL byte. */
static int copy_text(char **out, json_t *v, const char *what, struct err *err)
{
	size_t len = json_string_length(v);

	if (memchr(json_string_value(v), '\0', len) != NULL)
		return err_set(err, APPDB_EINVAL, "%s of the secret holds a NUL byte", what);
	*out = strdup(json_string_value(v));
	return *out != NULL ? 0 : APPDB_ENOMEM;
}

int secret_pick_key(struct secret *out, const char *secret_string, const char *key, struct err *err)
{
	json_t *doc = NULL;
	json_t *v, *user;
	char what[300];
	int rc = 0;

	out->value = NULL;
	out->username = NULL;
	doc = json_loads(secret_string, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	user = json_object_get(doc, "username");
	if (user != NULL && !json_is_string(user)) {
		rc = err_set(err, APPDB_EINVAL, "the username of the secret is not a string");
		goto out;
	}
	if (user != NULL && (rc = copy_text(&out->username, user, "the username", err)) != 0)
		goto out;
	if (key == NULL) {
		out->value = strdup(secret_string);
		rc = out->value != NULL ? 0 : APPDB_ENOMEM;
		goto out;
	}
	if (!json_is_object(doc)) {
		rc = err_set(err, APPDB_EINVAL,
		             "the secret value is not a JSON object, so key %s cannot be picked",
		             key);
		goto out;
	}
	v = json_object_get(doc, key);
	if (v == NULL) {
		rc = err_set(err, APPDB_ENOTFOUND, "key %s not found in the secret", key);
		goto out;
	}
	if (!json_is_string(v)) {
		rc = err_set(err, APPDB_EINVAL, "key %s of the secret is not a string", key);
		goto out;
	}
	snprintf(what, sizeof(what), "key %s", key);
	rc = copy_text(&out->value, v, what, err);
out:
	if (rc != 0)
		secret_clear(out);
	/* The parsed document holds the secret too: wipe its strings. */
	secret_wipe_json(doc);
	json_decref(doc);
	return rc;
}

int secret_fetch_file(void *ctx, struct secret *out, const struct secret_ref *ref, struct err *err)
{
	char *buf = NULL;
	ssize_t n;
	size_t len = 0;
	int fd = -1;
	int rc = 0;
	struct stat st;

	(void)ctx;
	fd = open(ref->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = err_set(err, errno == ENOENT ? APPDB_ENOTFOUND : APPDB_EFORBIDDEN,
		             "could not open password file %s: %s", ref->path, strerror(errno));
		goto out;
	}
	buf = malloc(SECRET_FILE_MAX + 1);
	if (buf == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	while ((n = read(fd, buf + len, SECRET_FILE_MAX - len)) > 0)
		len += (size_t)n;
	if (n < 0) {
		rc = err_set(err, APPDB_EIO, "could not read password file %s: %s", ref->path,
		             strerror(errno));
		goto out;
	}
	if (len == SECRET_FILE_MAX) {
		rc = err_set(err, APPDB_EINVAL, "password file %s is too large", ref->path);
		goto out;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL || len == 0) {
		rc = err_set(err, APPDB_EINVAL, "password file %s is empty or not text", ref->path);
		goto out;
	}
	out->value = buf;
	buf = NULL;
	if (fstat(fd, &st) == 0 &&
	    asprintf(&out->version, "mtime-%lld", (long long)st.st_mtime) < 0)
		out->version = NULL;
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, SECRET_FILE_MAX + 1);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}
