/*
 * kube_client.c - typed Kubernetes API calls over one curl handle.
 *
 * Each request builds its URL from escaped path segments, presents the
 * current credentials (bearer token header or client certificate blob,
 * wiped afterwards), and maps the answer to a project error code with the
 * server's Status message. The watch is in kube_watch.c.
 */
#include "kube_client.h"
#include "kube_int.h"

#include "dynbuf.h"

#include "secret.h"
#include "model.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX (64L << 20)
#define USER_AGENT "appdb-operator/" APPDB_VERSION

struct req_state {
	struct dynbuf body;
	int retry_after;
	int write_rc; /* why the body could not be kept */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* Initialises libcurl once per process. */
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int kube_client_new(struct kube_client **out, struct kube_config *cfg, struct err *err)
{
	struct kube_client *kc = NULL;

	*out = NULL;
	pthread_once(&curl_once, curl_init_once);
	kc = calloc(1, sizeof(*kc));
	if (kc == NULL)
		return APPDB_ENOMEM;
	kc->curl = curl_easy_init();
	if (kc->curl == NULL) {
		free(kc);
		return err_set(err, APPDB_ENOMEM, "could not make a curl handle");
	}
	kc->cfg = cfg;
	kc->timeout = 30;
	atomic_init(&kc->cancelled, 0);
	*out = kc;
	return 0;
}

void kube_client_free(struct kube_client *kc)
{
	if (kc == NULL)
		return;
	curl_easy_cleanup(kc->curl);
	free(kc);
}

void kube_client_set_timeout(struct kube_client *kc, long seconds)
{
	kc->timeout = seconds > 0 ? seconds : 30;
}

void kube_client_cancel(struct kube_client *kc)
{
	atomic_store(&kc->cancelled, 1);
}

#ifdef APPDB_TEST_API /* the unit tests' view */
int kube_client_cancelled(struct kube_client *kc)
{
	return atomic_load(&kc->cancelled);
}
#endif

int kube_code_for_http(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 400:
	case 422:
		return APPDB_EINVAL;
	case 401:
		return APPDB_EUNAUTHORIZED;
	case 403:
		return APPDB_EFORBIDDEN;
	case 404:
		return APPDB_ENOTFOUND;
	case 409:
		return APPDB_ECONFLICT;
	case 410:
		return APPDB_EGONE;
	case 429:
		return APPDB_ETHROTTLED;
	default:
		break;
	}
	if (status >= 500 || status == 408 || status == 0)
		return APPDB_ETRANSIENT;
	return APPDB_EINVAL;
}

/* Sets err from an error answer: the Status message, or the start of the body. */
int kube_error_from_body(struct err *err, long status, const char *method, const char *what,
                         const char *body, size_t len, int retry_after)
{
	int code = kube_code_for_http(status);
	json_t *st = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(st, "message"));
	json_t *details = json_object_get(st, "details");
	json_int_t ra = json_integer_value(json_object_get(details, "retryAfterSeconds"));

	if (err != NULL) {
		if (retry_after <= 0 && ra > 0 && ra < 3600)
			retry_after = (int)ra;
		err->retry_after = retry_after;
	}
	if (msg != NULL && msg[0] != '\0')
		err_set(err, code, "%s %s: %s (HTTP %ld)", method, what, msg, status);
	else
		err_set(err, code, "%s %s: HTTP %ld %s", method, what, status, err_name(code));
	json_decref(st);
	return code;
}

/* Collects a response body. */
static size_t write_body(char *p, size_t size, size_t n, void *ud)
{
	struct req_state *st = ud;

	st->write_rc = dynbuf_add(&st->body, p, size * n);
	return st->write_rc == 0 ? size * n : 0;
}

/* Picks Retry-After out of the response headers. */
size_t kube_header_cb(char *p, size_t size, size_t n, void *ud)
{
	int *retry_after = ud;
	size_t len = size * n;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		char tmp[32];
		size_t k = len - 12 < sizeof(tmp) - 1 ? len - 12 : sizeof(tmp) - 1;
		long v;

		memcpy(tmp, p + 12, k);
		tmp[k] = '\0';
		v = strtol(tmp, NULL, 10);
		*retry_after = v > 0 && v < 3600 ? (int)v : 1;
	}
	return len;
}

/* Aborts a transfer once the client is cancelled. */
static int progress_cb(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct kube_client *kc = ud;

	return atomic_load(&kc->cancelled) ? 1 : 0;
}

/* Wipes the strings of a header list, then frees it. */
void kube_free_headers(struct curl_slist *h)
{
	struct curl_slist *p;

	for (p = h; p != NULL; p = p->next)
		OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(h);
}

/*
 * Prepares the handle for url: TLS, credentials, headers. *out_headers gets
 * the header list to free after the transfer; creds must outlive it.
 */
int kube_prepare(struct kube_client *kc, const char *method, const char *url,
                 const char *content_type, struct kube_creds *creds,
                 struct curl_slist **out_headers, struct err *err)
{
	struct kube_config *cfg = kc->cfg;
	struct curl_slist *h = NULL, *t;
	char *auth = NULL;
	int rc;

	*out_headers = NULL;
	rc = kube_config_credentials(creds, cfg, err);
	if (rc != 0)
		return rc;
	curl_easy_reset(kc->curl);
	curl_easy_setopt(kc->curl, CURLOPT_URL, url);
	curl_easy_setopt(kc->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(kc->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(kc->curl, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(kc->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(kc->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(kc->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(kc->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(kc->curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(kc->curl, CURLOPT_XFERINFODATA, kc);
	/* A peer that vanished without a reset is noticed in about two minutes. */
	curl_easy_setopt(kc->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(kc->curl, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(kc->curl, CURLOPT_TCP_KEEPINTVL, 10L);
	if (cfg->insecure) {
		curl_easy_setopt(kc->curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(kc->curl, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (cfg->ca_data != NULL) {
		struct curl_blob blob = {cfg->ca_data, cfg->ca_data_len, CURL_BLOB_COPY};

		curl_easy_setopt(kc->curl, CURLOPT_CAINFO_BLOB, &blob);
	} else if (cfg->ca_file != NULL) {
		curl_easy_setopt(kc->curl, CURLOPT_CAINFO, cfg->ca_file);
	}
	if (creds->cert_pem != NULL && creds->key_pem != NULL) {
		struct curl_blob c = {creds->cert_pem, creds->cert_pem_len, CURL_BLOB_COPY};
		struct curl_blob k = {creds->key_pem, creds->key_pem_len, CURL_BLOB_COPY};

		curl_easy_setopt(kc->curl, CURLOPT_SSLCERT_BLOB, &c);
		curl_easy_setopt(kc->curl, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(kc->curl, CURLOPT_SSLKEY_BLOB, &k);
		curl_easy_setopt(kc->curl, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (cfg->cert_file != NULL && cfg->key_file != NULL) {
		curl_easy_setopt(kc->curl, CURLOPT_SSLCERT, cfg->cert_file);
		curl_easy_setopt(kc->curl, CURLOPT_SSLKEY, cfg->key_file);
	}
	rc = APPDB_ENOMEM;
	t = curl_slist_append(h, "Accept: application/json");
	if (t == NULL)
		goto out;
	h = t;
	if (content_type != NULL) {
		char ct[128];

		snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
		if ((t = curl_slist_append(h, ct)) == NULL)
			goto out;
		h = t;
	}
	if (creds->token != NULL) {
		if (asprintf(&auth, "Authorization: Bearer %s", creds->token) < 0) {
			auth = NULL;
			goto out;
		}
		t = curl_slist_append(h, auth);
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
		if (t == NULL)
			goto out;
		h = t;
	}
	curl_easy_setopt(kc->curl, CURLOPT_HTTPHEADER, h);
	*out_headers = h;
	h = NULL;
	rc = 0;
out:
	kube_free_headers(h);
	return rc;
}

/* server + path, owned. */
char *kube_make_url(struct kube_client *kc, const char *path)
{
	char *url = NULL;

	if (asprintf(&url, "%s%s", kc->cfg->server, path) < 0)
		return NULL;
	return url;
}

/* The path without its query, for messages. */
void kube_path_only(char *out, size_t len, const char *path)
{
	snprintf(out, len, "%.*s", (int)strcspn(path, "?"), path);
}

/* Maps a failed curl transfer. */
int kube_curl_failure(struct kube_client *kc, CURLcode cc, const char *method, const char *what,
                      struct err *err)
{
	if (cc == CURLE_ABORTED_BY_CALLBACK && atomic_load(&kc->cancelled))
		return err_set(err, APPDB_ETRANSIENT, "%s %s: cancelled", method, what);
	if (cc == CURLE_SSL_CACERT || cc == CURLE_PEER_FAILED_VERIFICATION ||
	    cc == CURLE_SSL_CERTPROBLEM)
		return err_set(err, APPDB_ETRANSIENT, "%s %s: TLS: %s", method, what,
		               curl_easy_strerror(cc));
	return err_set(err, APPDB_ETRANSIENT, "%s %s: %s", method, what, curl_easy_strerror(cc));
}

int kube_request(json_t **out, struct kube_client *kc, const char *method, const char *path,
                 const char *content_type, json_t *body, struct err *err)
{
	struct req_state st = {0};
	struct curl_slist *headers = NULL;
	struct kube_creds creds = {0};
	char *url = NULL, *payload = NULL, what[512];
	long status = 0;
	int rc = APPDB_ENOMEM, attempt;
	CURLcode cc;

	if (out != NULL)
		*out = NULL;
	dynbuf_init(&st.body, BODY_MAX);
	kube_path_only(what, sizeof(what), path);
	if (body != NULL && (payload = json_dumps(body, JSON_COMPACT)) == NULL)
		goto out;
	if ((url = kube_make_url(kc, path)) == NULL)
		goto out;
	for (attempt = 0; attempt < 2; attempt++) {
		kube_free_headers(headers);
		headers = NULL;
		kube_creds_clear(&creds);
		dynbuf_free(&st.body);
		st.retry_after = 0;
		st.write_rc = 0;
		rc = kube_prepare(kc, method, url,
		                  payload != NULL
		                      ? (content_type != NULL ? content_type : "application/json")
		                      : NULL,
		                  &creds, &headers, err);
		if (rc != 0)
			goto out;
		curl_easy_setopt(kc->curl, CURLOPT_TIMEOUT, kc->timeout);
		curl_easy_setopt(kc->curl, CURLOPT_WRITEFUNCTION, write_body);
		curl_easy_setopt(kc->curl, CURLOPT_WRITEDATA, &st);
		curl_easy_setopt(kc->curl, CURLOPT_HEADERFUNCTION, kube_header_cb);
		curl_easy_setopt(kc->curl, CURLOPT_HEADERDATA, &st.retry_after);
		if (payload != NULL) {
			curl_easy_setopt(kc->curl, CURLOPT_POSTFIELDS, payload);
			curl_easy_setopt(kc->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
		}
		cc = curl_easy_perform(kc->curl);
		if (cc != CURLE_OK) {
			if (cc == CURLE_WRITE_ERROR && st.write_rc == APPDB_ENOMEM)
				rc = APPDB_ENOMEM;
			else if (cc == CURLE_WRITE_ERROR)
				rc = err_set(err, APPDB_ELIMIT,
				             "%s %s: answer larger than %ld bytes", method, what,
				             BODY_MAX);
			else
				rc = kube_curl_failure(kc, cc, method, what, err);
			goto out;
		}
		curl_easy_getinfo(kc->curl, CURLINFO_RESPONSE_CODE, &status);
		/* A 401 may mean a rotated token or an expired exec credential: retry once. */
		if (status == 401 && attempt == 0) {
			kube_config_invalidate(kc->cfg);
			continue;
		}
		break;
	}
	if (status < 200 || status >= 300) {
		rc = kube_error_from_body(err, status, method, what, dynbuf_ptr(&st.body),
		                          dynbuf_len(&st.body), st.retry_after);
		goto out;
	}
	rc = 0;
	if (out != NULL && dynbuf_len(&st.body) > 0) {
		json_error_t je;

		*out = json_loadb(dynbuf_ptr(&st.body), dynbuf_len(&st.body), 0, &je);
		if (*out == NULL && json_error_code(&je) == json_error_out_of_memory)
			rc = APPDB_ENOMEM;
		else if (*out == NULL)
			rc = err_set(err, APPDB_ETRANSIENT, "%s %s: answer is not JSON: %s", method,
			             what, je.text);
	}
out:
	kube_free_headers(headers);
	kube_creds_clear(&creds);
	dynbuf_free(&st.body);
	free(url);
	if (payload != NULL) /* a Secret's data travels in it */
		OPENSSL_cleanse(payload, strlen(payload));
	free(payload);
	return rc;
}

/* ---- paths ---- */

/* Escapes one path segment (owned). */
char *kube_esc(struct kube_client *kc, const char *s)
{
	char *e = curl_easy_escape(kc->curl, s != NULL ? s : "", 0);
	char *r = e != NULL ? strdup(e) : NULL;

	curl_free(e);
	return r;
}

/*
 * Builds "<prefix>[/namespaces/<ns>]/<plural>[/<name>][<suffix>]" with
 * escaped segments. Owned; NULL on ENOMEM.
 */
char *kube_res_path(struct kube_client *kc, const char *prefix, const char *ns, const char *plural,
                    const char *name, const char *suffix)
{
	char *ens = ns != NULL ? kube_esc(kc, ns) : NULL,
	     *ename = name != NULL ? kube_esc(kc, name) : NULL;
	char *p = NULL;

	if ((ns != NULL && ens == NULL) || (name != NULL && ename == NULL))
		goto out;
	if (asprintf(&p, "%s%s%s/%s%s%s%s", prefix, ens != NULL ? "/namespaces/" : "",
	             ens != NULL ? ens : "", plural, ename != NULL ? "/" : "",
	             ename != NULL ? ename : "", suffix != NULL ? suffix : "") < 0)
		p = NULL;
out:
	free(ens);
	free(ename);
	return p;
}

#define CORE_PREFIX "/api/v1"
#define LEASE_PREFIX "/apis/coordination.k8s.io/v1"

/* A request on a built path; frees the path. */
static int do_path(json_t **out, struct kube_client *kc, const char *method, char *path,
                   const char *content_type, json_t *body, struct err *err)
{
	int rc;

	if (path == NULL)
		return APPDB_ENOMEM;
	rc = kube_request(out, kc, method, path, content_type, body, err);
	free(path);
	return rc;
}

/* ---- AppDatabases ---- */

void kube_list_clear(struct kube_list *l)
{
	json_decref(l->items);
	free(l->resource_version);
	l->items = NULL;
	l->resource_version = NULL;
}

int kube_list_appdbs(struct kube_list *out, struct kube_client *kc, const char *ns, long limit,
                     struct err *err)
{
	char *base = NULL, *cont = NULL;
	json_t *page = NULL;
	int rc = APPDB_ENOMEM;

	memset(out, 0, sizeof(*out));
	if (limit <= 0)
		limit = 500;
	out->items = json_array();
	base = kube_res_path(kc, APPDB_PREFIX, ns, APPDB_PLURAL, NULL, NULL);
	if (out->items == NULL || base == NULL)
		goto out;
	for (;;) {
		char *path = NULL, *econt = cont != NULL ? kube_esc(kc, cont) : NULL;
		json_t *meta, *items;
		const char *next, *rv;

		if (cont != NULL && econt == NULL)
			goto out;
		if (asprintf(&path, "%s?limit=%ld%s%s", base, limit,
		             econt != NULL ? "&continue=" : "", econt != NULL ? econt : "") < 0)
			path = NULL;
		free(econt);
		rc = do_path(&page, kc, "GET", path, NULL, NULL, err);
		if (rc != 0)
			goto out;
		items = json_object_get(page, "items");
		meta = json_object_get(page, "metadata");
		if (!json_is_array(items) && !json_is_null(items) && items != NULL) {
			rc = err_set(err, APPDB_ETRANSIENT, "list %s: items is not an array",
			             APPDB_PLURAL);
			goto out;
		}
		rc = APPDB_ENOMEM;
		if (items != NULL && json_is_array(items) &&
		    json_array_extend(out->items, items) != 0)
			goto out;
		rv = json_string_value(json_object_get(meta, "resourceVersion"));
		free(out->resource_version);
		out->resource_version = rv != NULL ? strdup(rv) : strdup("");
		if (out->resource_version == NULL)
			goto out;
		next = json_string_value(json_object_get(meta, "continue"));
		free(cont);
		cont = NULL;
		if (next != NULL && next[0] != '\0' && (cont = strdup(next)) == NULL)
			goto out;
		json_decref(page);
		page = NULL;
		if (cont == NULL)
			break;
	}
	rc = 0;
out:
	if (rc != 0)
		kube_list_clear(out);
	json_decref(page);
	free(base);
	free(cont);
	return rc;
}

int kube_get_appdb(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                   struct err *err)
{
	return do_path(out, kc, "GET",
	               kube_res_path(kc, APPDB_PREFIX, ns, APPDB_PLURAL, name, NULL), NULL, NULL,
	               err);
}

int kube_patch_appdb_status(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                            json_t *patch, struct err *err)
{
	return do_path(out, kc, "PATCH",
	               kube_res_path(kc, APPDB_PREFIX, ns, APPDB_PLURAL, name,
	                             "/status?fieldManager=appdb-operator"),
	               "application/merge-patch+json", patch, err);
}

int kube_patch_appdb(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                     json_t *patch, struct err *err)
{
	return do_path(
	    out, kc, "PATCH",
	    kube_res_path(kc, APPDB_PREFIX, ns, APPDB_PLURAL, name, "?fieldManager=appdb-operator"),
	    "application/merge-patch+json", patch, err);
}

/* ---- Secrets ---- */

int kube_get_secret(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                    struct err *err)
{
	return do_path(out, kc, "GET", kube_res_path(kc, CORE_PREFIX, ns, "secrets", name, NULL),
	               NULL, NULL, err);
}

/* ---- Events and Leases ---- */

int kube_create_event(json_t **out, struct kube_client *kc, const char *ns, json_t *event,
                      struct err *err)
{
	return do_path(out, kc, "POST", kube_res_path(kc, CORE_PREFIX, ns, "events", NULL, NULL),
	               "application/json", event, err);
}

int kube_patch_event(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                     json_t *patch, struct err *err)
{
	return do_path(out, kc, "PATCH", kube_res_path(kc, CORE_PREFIX, ns, "events", name, NULL),
	               "application/merge-patch+json", patch, err);
}

int kube_get_lease(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                   struct err *err)
{
	return do_path(out, kc, "GET", kube_res_path(kc, LEASE_PREFIX, ns, "leases", name, NULL),
	               NULL, NULL, err);
}

int kube_create_lease(json_t **out, struct kube_client *kc, const char *ns, json_t *lease,
                      struct err *err)
{
	return do_path(out, kc, "POST", kube_res_path(kc, LEASE_PREFIX, ns, "leases", NULL, NULL),
	               "application/json", lease, err);
}

int kube_update_lease(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                      json_t *lease, struct err *err)
{
	return do_path(out, kc, "PUT", kube_res_path(kc, LEASE_PREFIX, ns, "leases", name, NULL),
	               "application/json", lease, err);
}

/* ---- ConfigMaps and Secrets the operator writes (spec.connection) ---- */

int kube_get_configmap(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                       struct err *err)
{
	return do_path(out, kc, "GET", kube_res_path(kc, CORE_PREFIX, ns, "configmaps", name, NULL),
	               NULL, NULL, err);
}

int kube_create_configmap(json_t **out, struct kube_client *kc, const char *ns, json_t *cm,
                          struct err *err)
{
	return do_path(out, kc, "POST",
	               kube_res_path(kc, CORE_PREFIX, ns, "configmaps", NULL, NULL),
	               "application/json", cm, err);
}

int kube_update_configmap(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                          json_t *cm, struct err *err)
{
	return do_path(out, kc, "PUT", kube_res_path(kc, CORE_PREFIX, ns, "configmaps", name, NULL),
	               "application/json", cm, err);
}

int kube_create_secret(json_t **out, struct kube_client *kc, const char *ns, json_t *secret,
                       struct err *err)
{
	return do_path(out, kc, "POST", kube_res_path(kc, CORE_PREFIX, ns, "secrets", NULL, NULL),
	               "application/json", secret, err);
}

int kube_update_secret(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                       json_t *secret, struct err *err)
{
	return do_path(out, kc, "PUT", kube_res_path(kc, CORE_PREFIX, ns, "secrets", name, NULL),
	               "application/json", secret, err);
}
