/*
 * kube_watch.c - the streaming watch of AppDatabases: line-delimited JSON
 * events handed to a callback as they arrive, over the client's handle.
 */
#include "kube_client.h"
#include "kube_int.h"

#include "dynbuf.h"
#include "model.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WATCH_LINE_MAX (16L << 20)

struct watch_state {
	struct kube_client *kc;
	struct dynbuf line; /* the partial line, or the whole body on a non-200 answer */
	kube_watch_fn fn;
	void *ctx;
	int rc; /* first error found while streaming */
	struct err *err;
	long status;
};

int kube_watch_parse_line(struct kube_watch_event *out, const char *line, size_t len,
                          struct err *err)
{
	static const char *const names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
	json_t *ev = NULL, *obj;
	json_error_t je;
	const char *type;
	size_t i;
	int rc = APPDB_EINVAL;

	memset(out, 0, sizeof(*out));
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return APPDB_ENOTFOUND;
	ev = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (ev == NULL) {
		err_set(err, rc, "watch event is not JSON: %s", je.text);
		goto out;
	}
	type = json_string_value(json_object_get(ev, "type"));
	obj = json_object_get(ev, "object");
	if (type == NULL || !json_is_object(obj)) {
		err_set(err, rc, "watch event without type or object");
		goto out;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(type, names[i]) == 0)
			break;
	if (i == sizeof(names) / sizeof(names[0])) {
		err_set(err, rc, "watch event of unknown type \"%.40s\"", type);
		goto out;
	}
	out->type = (enum kube_event_type)i;
	if (out->type == KUBE_EVENT_ERROR) {
		json_int_t code = json_integer_value(json_object_get(obj, "code"));

		out->code = code > 0 && code < 1000 ? (int)code : 500;
	} else {
		json_t *meta = json_object_get(obj, "metadata");

		if (!json_is_object(meta) ||
		    !json_is_string(json_object_get(meta, "resourceVersion"))) {
			err_set(err, rc, "watch event without metadata.resourceVersion");
			goto out;
		}
	}
	out->object = json_incref(obj);
	rc = 0;
out:
	json_decref(ev);
	return rc;
}

/* Parses and dispatches one complete line. Returns 0 to go on. */
static int dispatch_line(struct watch_state *ws, const char *line, size_t len)
{
	struct kube_watch_event ev;
	struct err perr = {0};
	int rc;

	rc = kube_watch_parse_line(&ev, line, len, &perr);
	if (rc == APPDB_ENOTFOUND)
		return 0;
	if (rc != 0)
		return err_set(ws->err, APPDB_ETRANSIENT, "watch %s: %s", APPDB_PLURAL, perr.msg);
	if (ev.type == KUBE_EVENT_ERROR) {
		const char *msg = json_string_value(json_object_get(ev.object, "message"));

		rc = kube_code_for_http(ev.code);
		if (rc == 0)
			rc = APPDB_ETRANSIENT;
		err_set(ws->err, rc, "watch %s: %s (code %d)", APPDB_PLURAL,
		        msg != NULL ? msg : "error event", ev.code);
	} else {
		rc = ws->fn(ws->ctx, ev.type, ev.object);
	}
	json_decref(ev.object);
	return rc;
}

/* Receives the stream; hands each complete line over as it arrives. */
static size_t watch_write(char *p, size_t size, size_t n, void *ud)
{
	struct watch_state *ws = ud;
	size_t len = size * n, start = 0, i;
	int arc = 0;

	if (ws->status == 0)
		curl_easy_getinfo(ws->kc->curl, CURLINFO_RESPONSE_CODE, &ws->status);
	if (ws->status != 200) {
		/* An error answer: keep (some of) the body for the message. */
		if (dynbuf_len(&ws->line) < 65536)
			dynbuf_add(&ws->line, p, len);
		return len;
	}
	for (i = 0; i < len; i++) {
		if (p[i] != '\n')
			continue;
		if (dynbuf_len(&ws->line) > 0) {
			if ((arc = dynbuf_add(&ws->line, p + start, i - start)) != 0)
				goto too_long;
			ws->rc = dispatch_line(ws, dynbuf_ptr(&ws->line), dynbuf_len(&ws->line));
			dynbuf_reset(&ws->line);
		} else {
			ws->rc = dispatch_line(ws, p + start, i - start);
		}
		start = i + 1;
		if (ws->rc != 0)
			return 0;
	}
	if (start < len && (arc = dynbuf_add(&ws->line, p + start, len - start)) != 0)
		goto too_long;
	return len;
too_long:
	if (arc == APPDB_ENOMEM) {
		ws->rc = APPDB_ENOMEM;
		return 0;
	}
	ws->rc = err_set(ws->err, APPDB_ETRANSIENT, "watch %s: event longer than %ld bytes",
	                 APPDB_PLURAL, WATCH_LINE_MAX);
	return 0;
}

int kube_watch_appdbs(struct kube_client *kc, const struct kube_watch_opts *opts, kube_watch_fn fn,
                      void *ctx, struct err *err)
{
	struct watch_state ws = {.kc = kc, .fn = fn, .ctx = ctx, .err = err};
	struct curl_slist *headers = NULL;
	struct kube_creds creds = {0};
	char *base = NULL, *path = NULL, *url = NULL, *erv = NULL, what[256];
	int timeout = opts->timeout_seconds > 0 ? opts->timeout_seconds : 300, retry_after = 0;
	int rc = APPDB_ENOMEM;
	CURLcode cc;

	dynbuf_init(&ws.line, WATCH_LINE_MAX);
	base = kube_res_path(kc, APPDB_PREFIX, opts->ns, APPDB_PLURAL, NULL, NULL);
	if (opts->resource_version != NULL && (erv = kube_esc(kc, opts->resource_version)) == NULL)
		goto out;
	if (base == NULL ||
	    asprintf(&path, "%s?watch=true&allowWatchBookmarks=true&timeoutSeconds=%d%s%s", base,
	             timeout, erv != NULL ? "&resourceVersion=" : "", erv != NULL ? erv : "") < 0) {
		path = NULL;
		goto out;
	}
	if ((url = kube_make_url(kc, path)) == NULL)
		goto out;
	kube_path_only(what, sizeof(what), path);
	rc = kube_prepare(kc, "GET", url, NULL, &creds, &headers, err);
	if (rc != 0)
		goto out;
	curl_easy_setopt(kc->curl, CURLOPT_TIMEOUT, (long)timeout + 30);
	curl_easy_setopt(kc->curl, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(kc->curl, CURLOPT_WRITEDATA, &ws);
	curl_easy_setopt(kc->curl, CURLOPT_HEADERFUNCTION, kube_header_cb);
	curl_easy_setopt(kc->curl, CURLOPT_HEADERDATA, &retry_after);
	cc = curl_easy_perform(kc->curl);
	if (ws.rc != 0) {
		rc = ws.rc;
		goto out;
	}
	if (cc == CURLE_ABORTED_BY_CALLBACK && atomic_load(&kc->cancelled)) {
		rc = 0;
		goto out;
	}
	if (ws.status == 0)
		curl_easy_getinfo(kc->curl, CURLINFO_RESPONSE_CODE, &ws.status);
	if (ws.status != 0 && ws.status != 200) {
		if (ws.status == 401)
			kube_config_invalidate(kc->cfg);
		rc = kube_error_from_body(err, ws.status, "GET", what, dynbuf_ptr(&ws.line),
		                          dynbuf_len(&ws.line), retry_after);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = kube_curl_failure(kc, cc, "GET", what, err);
		goto out;
	}
	/* A last line without its newline. */
	if (dynbuf_len(&ws.line) > 0) {
		rc = dispatch_line(&ws, dynbuf_ptr(&ws.line), dynbuf_len(&ws.line));
		goto out;
	}
	rc = 0;
out:
	kube_free_headers(headers);
	kube_creds_clear(&creds);
	dynbuf_free(&ws.line);
	free(base);
	free(erv);
	free(path);
	free(url);
	return rc;
}
