/*
 * kube_int.h - what kube_client.c and kube_watch.c share: the client's
 * handle and the request plumbing. Not for other modules.
 */
#ifndef APPDB_KUBE_INT_H
#define APPDB_KUBE_INT_H

#include "kube_client.h"
#include "model.h"

#include <curl/curl.h>
#include <stdatomic.h>

#define APPDB_PREFIX "/apis/" APPDB_GROUP "/" APPDB_VERSION_NAME

struct kube_client {
	struct kube_config *cfg;
	CURL *curl;
	long timeout;
	atomic_int cancelled;
	int answered; /* the last request got an HTTP answer (kube_client_answered) */
};

/* Sets err from an error answer: the Status message, or the start of the body. Returns the code. */
int kube_error_from_body(struct err *err, long status, const char *method, const char *what,
                         const char *body, size_t len, int retry_after);

/* curl header callback: picks Retry-After into the int at ud. */
size_t kube_header_cb(char *p, size_t size, size_t n, void *ud);

/* Wipes the strings of a header list, then frees it. */
void kube_free_headers(struct curl_slist *h);

/*
 * Prepares the handle for url: TLS, credentials, headers. *out_headers gets
 * the header list to free after the transfer; creds must outlive it.
 */
int kube_prepare(struct kube_client *kc, const char *method, const char *url,
                 const char *content_type, struct kube_creds *creds,
                 struct curl_slist **out_headers, struct err *err);

/* The full URL of path (new). */
char *kube_make_url(struct kube_client *kc, const char *path);

/* path without its query, for messages, into out. */
void kube_path_only(char *out, size_t len, const char *path);

/* Maps a failed curl transfer. */
int kube_curl_failure(struct kube_client *kc, CURLcode cc, const char *method, const char *what,
                      struct err *err);

/* Escapes one path segment (new). */
char *kube_esc(struct kube_client *kc, const char *s);

/*
 * Builds "<prefix>[/namespaces/<ns>]/<plural>[/<name>][<suffix>]" with
 * escaped segments. New; NULL on no memory.
 */
char *kube_res_path(struct kube_client *kc, const char *prefix, const char *ns, const char *plural,
                    const char *name, const char *suffix);

#endif
