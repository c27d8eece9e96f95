/*
 * report.c - the governance report: one pass over audit lines into
 * aggregates, then the figures as JSON and as Markdown made from that JSON.
 *
 * The aggregates are jansson objects used as maps (the report runs once,
 * from the command line, not in the controller): each key joins its parts
 * with a unit separator, which no name the operator writes contains.
 */
#include "report.h"

#include "clock.h"
#include "err.h"
#include "jfield.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEP "\x1f"

/* The upper bounds of the time-to-Ready table, in seconds, and their labels. */
static const struct {
	double le;
	const char *label;
} ttr_rows[] = {
    {1, "≤ 1 s"},     {5, "≤ 5 s"},       {30, "≤ 30 s"},  {60, "≤ 1 min"},
    {300, "≤ 5 min"}, {1800, "≤ 30 min"}, {3600, "≤ 1 h"}, {86400, "≤ 1 d"},
};
#define N_TTR_ROWS (sizeof(ttr_rows) / sizeof(ttr_rows[0]))

struct report {
	time_t since;
	long records, skipped, earlier, runs, changes, traceable;
	time_t first, last;
	json_t *groups;    /* env SEP instance -> {environment, instance, runs, ...} */
	json_t *outcomes;  /* result SEP reason -> {result, reason, runs} */
	json_t *builds;    /* buildId -> changes */
	json_t *approvals; /* resource SEP uid SEP generation SEP approver -> env SEP instance */
	json_t *gens;      /* resource SEP uid SEP generation -> [start, ready or null] */
	json_t *prod;      /* array of {ts, resource, generation, approvedBy, buildId, runId} */
};

int report_new(struct report **out, time_t since)
{
	struct report *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (r == NULL)
		return APPDB_ENOMEM;
	r->since = since;
	r->first = r->last = -1;
	r->groups = json_object();
	r->outcomes = json_object();
	r->builds = json_object();
	r->approvals = json_object();
	r->gens = json_object();
	r->prod = json_array();
	if (r->groups == NULL || r->outcomes == NULL || r->builds == NULL || r->approvals == NULL ||
	    r->gens == NULL || r->prod == NULL) {
		report_free(r);
		return APPDB_ENOMEM;
	}
	*out = r;
	return 0;
}

void report_free(struct report *r)
{
	if (r == NULL)
		return;
	json_decref(r->groups);
	json_decref(r->outcomes);
	json_decref(r->builds);
	json_decref(r->approvals);
	json_decref(r->gens);
	json_decref(r->prod);
	free(r);
}

/* obj[key] += n, an integer (made when missing). Returns 0 or APPDB_ENOMEM. */
static int bump(json_t *obj, const char *key, json_int_t n)
{
	json_t *v = json_object_get(obj, key);

	if (v != NULL)
		return json_integer_set(v, json_integer_value(v) + n) == 0 ? 0 : APPDB_ENOMEM;
	return json_object_set_new(obj, key, json_integer(n)) == 0 ? 0 : APPDB_ENOMEM;
}

/* map[key], made by json_pack(fmt, ...) when missing (borrowed); NULL on no memory. */
static json_t *entry(json_t *map, const char *key, const char *fmt, ...)
{
	json_t *v = json_object_get(map, key);
	va_list ap;

	if (v != NULL)
		return v;
	va_start(ap, fmt);
	v = json_vpack_ex(NULL, 0, fmt, ap);
	va_end(ap);
	if (v == NULL || json_object_set_new(map, key, v) != 0)
		return NULL;
	return v;
}

/* "a SEP b [SEP c [SEP d]]" (NULL parts as ""); NULL on no memory. */
static char *join(const char *a, const char *b, const char *c, const char *d)
{
	char *s = NULL;

	if (asprintf(&s, "%s" SEP "%s%s%s%s%s", a ? a : "", b ? b : "", c ? SEP : "", c ? c : "",
	             d ? SEP : "", d ? d : "") < 0)
		return NULL;
	return s;
}

/* The counter of a run's result in a group: changed, blocked, failed, invalid, deleted. */
static const char *result_counter(const char *result)
{
	static const char *const names[][2] = {
	    {"Changed", "changed"}, {"Blocked", "blocked"}, {"Failed", "failed"},
	    {"Invalid", "invalid"}, {"Deleted", "deleted"},
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(result, names[i][0]) == 0)
			return names[i][1];
	return "other";
}

/* 1 when the change rec carries a build id from its resource. */
static int traceable(json_t *rec)
{
	const char *from = jfield_str(rec, "buildIdFrom");
	const char *id = jfield_str(rec, "buildId");

	if (from != NULL)
		return strcmp(from, "annotation") == 0 && id != NULL && id[0] != '\0';
	return id != NULL && id[0] != '\0';
}

/* Counts a run (the record without user) in its group and outcome. */
static int add_run(struct report *r, json_t *rec, time_t ts)
{
	const char *env = jfield_str(rec, "environment"), *inst = jfield_str(rec, "instance");
	const char *result = jfield_str(rec, "result"), *reason = jfield_str(rec, "reason");
	const char *build = jfield_str(rec, "buildId"), *approver = jfield_str(rec, "approvedBy");
	json_t *group, *outcome;
	char *gkey = join(env, inst, NULL, NULL), *okey = join(result, reason, NULL, NULL);
	int rc = APPDB_ENOMEM;

	if (gkey == NULL || okey == NULL)
		goto out;
	group = entry(r->groups, gkey, "{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
	              "environment", env ? env : "", "instance", inst ? inst : "", "runs", 0,
	              "changed", 0, "blocked", 0, "failed", 0, "invalid", 0, "deleted", 0, "other",
	              0, "approvals", 0, "actions", 0);
	outcome = entry(r->outcomes, okey, "{s:s, s:s, s:i}", "result", result, "reason",
	                reason ? reason : "", "runs", 0);
	if (group == NULL || outcome == NULL || bump(group, "runs", 1) != 0 ||
	    bump(group, result_counter(result), 1) != 0 || bump(outcome, "runs", 1) != 0)
		goto out;
	r->runs++;
	if (strcmp(result, "Changed") == 0) {
		char when[32];
		json_t *gen = json_object_get(rec, "generation");

		r->changes++;
		if (traceable(rec)) {
			r->traceable++;
			if (bump(r->builds, build, 1) != 0)
				goto out;
		} else if (bump(r->builds, "", 1) != 0) {
			goto out;
		}
		if (approver != NULL && approver[0] != '\0') {
			char *akey = NULL;
			int new_one;

			if (asprintf(&akey, "%s" SEP "%s" SEP "%lld" SEP "%s",
			             jfield_str(rec, "resource"),
			             jfield_str(rec, "uid") ? jfield_str(rec, "uid") : "",
			             (long long)json_integer_value(gen), approver) < 0)
				goto out;
			new_one = json_object_get(r->approvals, akey) == NULL;
			if (new_one && (json_object_set_new(r->approvals, akey, json_true()) != 0 ||
			                bump(group, "approvals", 1) != 0)) {
				free(akey);
				goto out;
			}
			free(akey);
		}
		if (env != NULL && strcmp(env, "prod") == 0) {
			clock_format(when, sizeof(when), ts);
			if (json_array_append_new(
			        r->prod,
			        json_pack("{s:s, s:s, s:I, s:s?, s:s?, s:s?, s:s?}", "ts", when,
			                  "resource", jfield_str(rec, "resource"), "generation",
			                  json_integer_value(gen), "approvedBy", approver,
			                  "buildId", build, "runId", jfield_str(rec, "runId"),
			                  "instance", inst)) != 0)
				goto out;
		}
	}
	rc = 0;
out:
	free(gkey);
	free(okey);
	return rc;
}

/* Adds the actions of a changed record to its group's count. */
static int add_actions(struct report *r, json_t *rec)
{
	char *gkey;
	json_t *group;
	int rc = 0;

	if (json_array_size(json_object_get(rec, "actions")) == 0)
		return 0;
	gkey = join(jfield_str(rec, "environment"), jfield_str(rec, "instance"), NULL, NULL);
	if (gkey == NULL)
		return APPDB_ENOMEM;
	group = json_object_get(r->groups, gkey);
	if (group != NULL)
		rc = bump(group, "actions",
		          (json_int_t)json_array_size(json_object_get(rec, "actions")));
	free(gkey);
	return rc;
}

/* Notes the record in its generation's time to Ready. */
static int add_generation(struct report *r, json_t *rec, time_t ts, int run)
{
	const char *result = jfield_str(rec, "result"), *reason = jfield_str(rec, "reason");
	const char *started = jfield_str(rec, "startedAt");
	time_t start = started != NULL ? clock_parse(started) : -1;
	char gen[32];
	char *key;
	json_t *g;
	int rc = APPDB_ENOMEM;

	if (strcmp(result, "Deleted") == 0)
		return 0;
	if (start < 0 || start > ts)
		start = ts;
	snprintf(gen, sizeof(gen), "%lld",
	         (long long)json_integer_value(json_object_get(rec, "generation")));
	key = join(jfield_str(rec, "resource"), jfield_str(rec, "uid"), gen, NULL);
	if (key == NULL)
		return rc;
	g = entry(r->gens, key, "[I, n]", (json_int_t)start);
	if (g == NULL)
		goto out;
	if ((time_t)json_integer_value(json_array_get(g, 0)) > start &&
	    json_array_set_new(g, 0, json_integer((json_int_t)start)) != 0)
		goto out;
	if (run && strcmp(result, "Changed") == 0 && reason != NULL &&
	    strcmp(reason, "Provisioned") == 0 && json_is_null(json_array_get(g, 1)) &&
	    json_array_set_new(g, 1, json_integer((json_int_t)ts)) != 0)
		goto out;
	rc = 0;
out:
	free(key);
	return rc;
}

int report_add_record(struct report *r, json_t *rec)
{
	const char *ts_text, *event;
	json_t *user;
	time_t ts;
	int run, rc;

	if (!json_is_object(rec))
		goto skip;
	event = jfield_str(rec, "event");
	ts_text = jfield_str(rec, "ts");
	user = json_object_get(rec, "user");
	if (event == NULL || strcmp(event, "audit") != 0 || ts_text == NULL ||
	    jfield_str(rec, "resource") == NULL || jfield_str(rec, "result") == NULL ||
	    (user != NULL && !json_is_null(user) && !json_is_string(user)))
		goto skip;
	ts = clock_parse(ts_text);
	if (ts < 0)
		goto skip;
	run = user == NULL || json_is_null(user);
	if (r->since >= 0 && ts < r->since) {
		/* Before the period: only where its generations started. */
		rc = add_generation(r, rec, ts, run) != 0 ? APPDB_ENOMEM : 1;
		r->earlier += rc == 1;
		return rc;
	}
	if ((run && add_run(r, rec, ts) != 0) ||
	    (strcmp(jfield_str(rec, "result"), "Changed") == 0 && add_actions(r, rec) != 0) ||
	    add_generation(r, rec, ts, run) != 0)
		return APPDB_ENOMEM;
	r->records++;
	if (r->first < 0 || ts < r->first)
		r->first = ts;
	if (ts > r->last)
		r->last = ts;
	return 0;
skip:
	r->skipped++;
	return 1;
}

int report_add_line(struct report *r, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *rec;
	int rc;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len == 0)
		return 1;
	rec = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (rec == NULL && json_error_code(&jerr) == json_error_out_of_memory)
		return APPDB_ENOMEM;
	rc = report_add_record(r, rec);
	json_decref(rec);
	return rc;
}

double report_percentile(const double *sorted, size_t n, double q)
{
	size_t rank = (size_t)ceil(q * (double)n);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The values of map, sorted by key, as a new array; NULL on no memory. */
static json_t *sorted_values(json_t *map)
{
	size_t n = json_object_size(map), i = 0;
	const char **keys = calloc(n > 0 ? n : 1, sizeof(char *));
	json_t *arr = json_array(), *v;
	const char *k;

	if (keys == NULL || arr == NULL)
		goto fail;
	json_object_foreach (map, k, v)
		keys[i++] = k;
	qsort(keys, n, sizeof(char *), cmp_str);
	for (i = 0; i < n; i++)
		if (json_array_append(arr, json_object_get(map, keys[i])) != 0)
			goto fail;
	free(keys);
	return arr;
fail:
	free(keys);
	json_decref(arr);
	return NULL;
}

/* The time-to-Ready part of the figures; NULL on no memory. */
static json_t *ttr_json(struct report *r)
{
	size_t n = json_object_size(r->gens), n_ready = 0, i;
	double *v = calloc(n > 0 ? n : 1, sizeof(double));
	long counts[N_TTR_ROWS + 1] = {0};
	json_t *out = NULL, *hist = json_array(), *g;
	const char *k;

	if (v == NULL || hist == NULL)
		goto out;
	n = 0;
	json_object_foreach (r->gens, k, g) {
		json_t *ready = json_array_get(g, 1);

		if (r->since >= 0 && json_integer_value(json_array_get(g, 0)) < r->since)
			continue; /* started before the period */
		n++;
		if (json_is_integer(ready))
			v[n_ready++] = (double)(json_integer_value(ready) -
			                        json_integer_value(json_array_get(g, 0)));
	}
	qsort(v, n_ready, sizeof(double), cmp_double);
	for (i = 0; i < n_ready; i++) {
		size_t row = 0;

		while (row < N_TTR_ROWS && v[i] > ttr_rows[row].le)
			row++;
		counts[row]++;
	}
	for (i = 0; i <= N_TTR_ROWS; i++) {
		json_t *row = i < N_TTR_ROWS
		                  ? json_pack("{s:f, s:s, s:i}", "le", ttr_rows[i].le, "label",
		                              ttr_rows[i].label, "count", (json_int_t)counts[i])
		                  : json_pack("{s:n, s:s, s:i}", "le", "label", "> 1 d", "count",
		                              (json_int_t)counts[i]);

		if (json_array_append_new(hist, row) != 0)
			goto out;
	}
	if (n_ready > 0)
		out = json_pack("{s:i, s:i, s:i, s:f, s:f, s:f, s:O}", "generations", (json_int_t)n,
		                "ready", (json_int_t)n_ready, "notReady", (json_int_t)(n - n_ready),
		                "p50", report_percentile(v, n_ready, 0.5), "p95",
		                report_percentile(v, n_ready, 0.95), "max", v[n_ready - 1],
		                "histogram", hist);
	else
		out = json_pack("{s:i, s:i, s:i, s:n, s:n, s:n, s:O}", "generations", (json_int_t)n,
		                "ready", 0, "notReady", (json_int_t)n, "p50", "p95", "max",
		                "histogram", hist);
out:
	json_decref(hist);
	free(v);
	return out;
}

/* The builds as [{buildId, changes}], most changes first; "" is the untraceable ones. */
static json_t *builds_json(struct report *r)
{
	json_t *arr = json_array(), *v;
	const char *k;
	size_t i, j;

	if (arr == NULL)
		return NULL;
	json_object_foreach (r->builds, k, v) {
		if (json_array_append_new(arr, json_pack("{s:s, s:I}", "buildId", k, "changes",
		                                         json_integer_value(v))) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	/* Insertion sort: most changes first, then by build id. */
	for (i = 1; i < json_array_size(arr); i++) {
		for (j = i; j > 0; j--) {
			json_t *a = json_array_get(arr, j - 1), *b = json_array_get(arr, j);
			json_int_t ca = json_integer_value(json_object_get(a, "changes"));
			json_int_t cb = json_integer_value(json_object_get(b, "changes"));

			if (ca > cb || (ca == cb && strcmp(jfield_str(a, "buildId"),
			                                   jfield_str(b, "buildId")) <= 0))
				break;
			json_incref(a);
			json_array_set(arr, j - 1, b);
			json_array_set_new(arr, j, a);
		}
	}
	return arr;
}

int report_json(json_t **out, struct report *r)
{
	char first[32] = "", last[32] = "", since[32] = "";
	json_t *groups = sorted_values(r->groups), *outcomes = sorted_values(r->outcomes);
	json_t *builds = builds_json(r), *ttr = ttr_json(r);
	int rc = APPDB_ENOMEM;

	*out = NULL;
	if (r->first >= 0) {
		clock_format(first, sizeof(first), r->first);
		clock_format(last, sizeof(last), r->last);
	}
	if (r->since >= 0)
		clock_format(since, sizeof(since), r->since);
	if (groups == NULL || outcomes == NULL || builds == NULL || ttr == NULL)
		goto out;
	*out = json_pack(
	    "{s:I, s:I, s:I, s:s?, s:s?, s:s?, s:I, s:I, s:I, s:O, s:O, "
	    "s:{s:I, s:I, s:o}, s:O, s:O, s:O}",
	    "records", (json_int_t)r->records, "skipped", (json_int_t)r->skipped, "earlier",
	    (json_int_t)r->earlier, "from", first[0] ? first : NULL, "to", last[0] ? last : NULL,
	    "since", since[0] ? since : NULL, "runs", (json_int_t)r->runs, "changes",
	    (json_int_t)r->changes, "approvals", (json_int_t)json_object_size(r->approvals),
	    "byInstance", groups, "byOutcome", outcomes, "traceability", "changes",
	    (json_int_t)r->changes, "withBuildId", (json_int_t)r->traceable, "share",
	    r->changes > 0 ? json_real((double)r->traceable / (double)r->changes) : json_null(),
	    "builds", builds, "timeToReady", ttr, "prodChanges", r->prod);
	rc = *out != NULL ? 0 : APPDB_ENOMEM;
out:
	json_decref(groups);
	json_decref(outcomes);
	json_decref(builds);
	json_decref(ttr);
	return rc;
}

/* ---- Markdown ---- */

/*
 * Appends text escaped for a table cell: control bytes (C0, DEL, and C1 as
 * UTF-8) as \xNN, so no name can end the line or steer a terminal; the
 * characters Markdown reads in a cell (| ` * _ < \) behind a backslash.
 */
static void cell(FILE *f, const char *text)
{
	const unsigned char *p = (const unsigned char *)(text != NULL && text[0] ? text : "-");

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\x%02x", *p);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			fprintf(f, "\\xc2\\x%02x", p[1]);
			p++;
		} else {
			if (strchr("|`*_<\\", *p) != NULL)
				fputc('\\', f);
			fputc(*p, f);
		}
	}
}

/* A count of obj[key] (0 when missing). */
static long long num(json_t *obj, const char *key)
{
	return (long long)json_integer_value(json_object_get(obj, key));
}

/* Seconds as "42 s", "3.5 min", "2.0 h", "1.5 d"; "-" for null. */
static void duration(FILE *f, json_t *v)
{
	double s = json_number_value(v);

	if (!json_is_number(v))
		fputs("-", f);
	else if (s < 120)
		fprintf(f, "%.0f s", s);
	else if (s < 7200)
		fprintf(f, "%.1f min", s / 60);
	else if (s < 172800)
		fprintf(f, "%.1f h", s / 3600);
	else
		fprintf(f, "%.1f d", s / 86400);
}

static void md_instances(FILE *f, json_t *fig)
{
	json_t *g;
	size_t i;

	fputs("\n## Runs by environment and instance\n\n"
	      "| environment | instance | runs | changes | blocked | invalid | failed | deleted | "
	      "approvals | actions |\n"
	      "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n",
	      f);
	json_array_foreach (json_object_get(fig, "byInstance"), i, g) {
		fputs("| ", f);
		cell(f, jfield_str(g, "environment"));
		fputs(" | ", f);
		cell(f, jfield_str(g, "instance"));
		fprintf(f, " | %lld | %lld | %lld | %lld | %lld | %lld | %lld | %lld |\n",
		        num(g, "runs"), num(g, "changed"), num(g, "blocked"), num(g, "invalid"),
		        num(g, "failed"), num(g, "deleted"), num(g, "approvals"),
		        num(g, "actions"));
	}
	if (json_array_size(json_object_get(fig, "byInstance")) == 0)
		fputs("| - | - | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |\n", f);
}

static void md_outcomes(FILE *f, json_t *fig)
{
	json_t *o;
	size_t i;

	fputs("\n## Runs by result and reason\n\n| result | reason | runs |\n|---|---|--:|\n", f);
	json_array_foreach (json_object_get(fig, "byOutcome"), i, o) {
		fputs("| ", f);
		cell(f, jfield_str(o, "result"));
		fputs(" | ", f);
		cell(f, jfield_str(o, "reason"));
		fprintf(f, " | %lld |\n", num(o, "runs"));
	}
}

static void md_trace(FILE *f, json_t *fig)
{
	json_t *t = json_object_get(fig, "traceability"), *b;
	size_t i;

	fputs("\n## Traceability\n\n", f);
	if (num(t, "changes") == 0)
		fputs("No changes in this period.\n", f);
	else
		fprintf(f, "%lld of %lld changes carry the build id of their resource (%.1f%%).\n",
		        num(t, "withBuildId"), num(t, "changes"),
		        100.0 * json_number_value(json_object_get(t, "share")));
	if (json_array_size(json_object_get(fig, "builds")) == 0)
		return;
	fputs("\n| build id | changes |\n|---|--:|\n", f);
	json_array_foreach (json_object_get(fig, "builds"), i, b) {
		const char *id = jfield_str(b, "buildId");

		fputs("| ", f);
		if (id != NULL && id[0] != '\0')
			cell(f, id);
		else
			fputs("(none: the operator's own)", f);
		fprintf(f, " | %lld |\n", num(b, "changes"));
	}
}

static void md_ttr(FILE *f, json_t *fig)
{
	json_t *t = json_object_get(fig, "timeToReady"), *row;
	long long most = 1;
	size_t i;

	fputs("\n## Time to Ready\n\n", f);
	fprintf(f, "%lld generation(s) ready, %lld not (yet); p50 ", num(t, "ready"),
	        num(t, "notReady"));
	duration(f, json_object_get(t, "p50"));
	fputs(", p95 ", f);
	duration(f, json_object_get(t, "p95"));
	fputs(", max ", f);
	duration(f, json_object_get(t, "max"));
	fputs(".\n\n| time to Ready | generations | |\n|---|--:|---|\n", f);
	json_array_foreach (json_object_get(t, "histogram"), i, row)
		if (num(row, "count") > most)
			most = num(row, "count");
	json_array_foreach (json_object_get(t, "histogram"), i, row) {
		long long n = num(row, "count"), bar = (n * 30 + most - 1) / most, j;

		fprintf(f, "| %s | %lld | ", jfield_str(row, "label"), n);
		for (j = 0; j < bar; j++)
			fputs("█", f);
		fputs(" |\n", f);
	}
}

static void md_prod(FILE *f, json_t *fig)
{
	json_t *c;
	size_t i;

	fputs("\n## Changes in prod and their approvers\n\n", f);
	if (json_array_size(json_object_get(fig, "prodChanges")) == 0) {
		fputs("None.\n", f);
		return;
	}
	fputs("| time | resource | generation | approved by | build id | run id |\n"
	      "|---|---|--:|---|---|---|\n",
	      f);
	json_array_foreach (json_object_get(fig, "prodChanges"), i, c) {
		fprintf(f, "| %s | ", jfield_str(c, "ts"));
		cell(f, jfield_str(c, "resource"));
		fprintf(f, " | %lld | ", num(c, "generation"));
		cell(f, jfield_str(c, "approvedBy"));
		fputs(" | ", f);
		cell(f, jfield_str(c, "buildId"));
		fputs(" | ", f);
		cell(f, jfield_str(c, "runId"));
		fputs(" |\n", f);
	}
}

int report_markdown(char **out, json_t *fig)
{
	size_t len = 0;
	FILE *f;
	const char *from = jfield_str(fig, "from"), *to = jfield_str(fig, "to");
	const char *since = jfield_str(fig, "since");

	*out = NULL;
	f = open_memstream(out, &len);
	if (f == NULL)
		return APPDB_ENOMEM;
	fputs("# appdb-operator report\n\n", f);
	fprintf(f, "%lld audit record(s)", num(fig, "records"));
	if (from != NULL)
		fprintf(f, " from %s to %s", from, to);
	if (since != NULL)
		fprintf(f, " (since %s)", since);
	fprintf(f, "; %lld line(s) skipped. %lld run(s), %lld change(s), %lld approval(s).\n",
	        num(fig, "skipped"), num(fig, "runs"), num(fig, "changes"), num(fig, "approvals"));
	md_instances(f, fig);
	md_outcomes(f, fig);
	md_trace(f, fig);
	md_ttr(f, fig);
	md_prod(f, fig);
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return APPDB_ENOMEM;
	}
	return 0;
}
