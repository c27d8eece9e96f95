/*
 * cli.c - the command line (DESIGN section 9): run, reconcile, plan,
 * validate, report, version. Exit codes: 0 done or nothing to do; 1 a resource
 * failed, was blocked or is invalid; 2 usage or configuration error; 3 plan
 * has changes. A human summary goes to stderr, JSON records to stdout.
 */
#include "cli.h"

#include "audit.h"
#include "clock.h"
#include "config.h"
#include "controller.h"
#include "engine.h"
#include "import.h"
#include "log.h"
#include "manifest.h"
#include "report.h"
#include "runall.h"
#include "sources.h"
#include "validate.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EXIT_DONE = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_CHANGES = 3 };

struct cli_opts {
	const char *config;
	const char *kubeconfig;
	char **paths;
	size_t n_paths;
	int config_given;
};

static const char USAGE[] =
    "usage:\n"
    "  appdb-operator run       [--config F] [--kubeconfig F]   the controller\n"
    "  appdb-operator reconcile [--config F] -f PATH...         one pass over manifests on disk\n"
    "  appdb-operator plan      [--config F] -f PATH...         what reconcile would do; changes "
    "nothing\n"
    "  appdb-operator validate  [--config F] -f PATH...         check manifests only\n"
    "  appdb-operator import    [--config F] --instance I [--namespace NS]\n"
    "                                                     AppDatabases (adopt: true) for what I "
    "has\n"
    "  appdb-operator report    [--config F] [--since T] [-f AUDIT.jsonl...] [--format "
    "markdown|json]\n"
    "                                                           figures from the audit trail\n"
    "  appdb-operator version\n"
    "options: --log-format text|json, --log-level debug|info|warn|error\n";

/* Parses the options shared by the commands; returns 0 or EXIT_USAGE. */
static int parse_opts(struct cli_opts *o, int argc, char **argv, enum log_level def_level)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"kubeconfig", required_argument, NULL, 'k'},
	    {"filename", required_argument, NULL, 'f'},
	    {"log-format", required_argument, NULL, 'L'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum log_format format = LOG_TEXT;
	enum log_level level = def_level;
	int c;

	memset(o, 0, sizeof(*o));
	o->config = CONFIG_DEFAULT_PATH;
	o->paths = calloc((size_t)argc + 1, sizeof(char *));
	if (o->paths == NULL)
		return EXIT_USAGE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:k:f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			o->config_given = 1;
			break;
		case 'k':
			o->kubeconfig = optarg;
			break;
		case 'f':
			o->paths[o->n_paths++] = optarg;
			break;
		case 'L':
			if (strcmp(optarg, "json") == 0)
				format = LOG_JSON;
			else if (strcmp(optarg, "text") != 0)
				goto usage;
			break;
		case 'l':
			if (strcmp(optarg, "debug") == 0)
				level = LOG_DEBUG;
			else if (strcmp(optarg, "info") == 0)
				level = LOG_INFO;
			else if (strcmp(optarg, "warn") == 0)
				level = LOG_WARN;
			else if (strcmp(optarg, "error") == 0)
				level = LOG_ERROR;
			else
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "appdb-operator: unexpected argument %s\n", argv[optind]);
		goto usage;
	}
	log_configure(level, format);
	return 0;
usage:
	fputs(USAGE, stderr);
	return EXIT_USAGE;
}

/* Prints "prefix text suffix" to stderr with text escaped (log_escape); NULL text as "-". */
static void put_escaped(const char *prefix, const char *text, const char *suffix)
{
	char *e = log_escape(text != NULL ? text : "-");

	fprintf(stderr, "%s%s%s", prefix, e != NULL ? e : "(out of memory)", suffix);
	free(e);
}

/*
 * Prints a run's summary to stderr. Names, messages and actions carry text
 * from the manifests and the server: escaped, so none can forge a line.
 */
static void print_summary(const struct appdb *db, const struct run_result *r, int plan)
{
	char head[128];
	size_t i;

	put_escaped("", db->ns, "/");
	snprintf(head, sizeof(head), ": %s (%s)%s",
	         plan && r->result == RESULT_CHANGED ? "Changes" : run_result_name(r->result),
	         r->reason ? r->reason : "", r->message ? ": " : "");
	put_escaped("", db->name, head);
	if (r->message != NULL)
		put_escaped("", r->message, "");
	fputc('\n', stderr);
	for (i = 0; i < r->n_actions; i++)
		put_escaped(plan || r->result == RESULT_BLOCKED ? "  would " : "  did ",
		            r->actions[i], "\n");
}

/* Prints the JSON record of a plan. */
static void print_plan_json(const struct appdb *db, const struct run_result *r)
{
	json_t *actions = json_array();
	json_t *rec;
	char resource[320];
	char *line;
	size_t i;

	for (i = 0; i < r->n_actions; i++)
		json_array_append_new(actions, json_string(r->actions[i]));
	snprintf(resource, sizeof(resource), "%s/%s", db->ns ? db->ns : "",
	         db->name ? db->name : "");
	rec = json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:o, s:s?}", "event", "plan", "resource",
	                resource, "database", db->db_name, "result",
	                r->result == RESULT_CHANGED ? "Changes" : run_result_name(r->result),
	                "reason", r->reason, "actions", actions, "message", r->message);
	line = rec != NULL ? json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (line != NULL)
		printf("%s\n", line);
	free(line);
	json_decref(rec);
}

/* 1 when an earlier item names the same namespace/name. */
static int duplicate_of_earlier(const struct manifest_set *set, size_t i)
{
	const struct appdb *a = set->items[i].db;
	size_t j;

	if (a == NULL || a->name == NULL)
		return 0;
	for (j = 0; j < i; j++) {
		const struct appdb *b = set->items[j].db;

		if (b != NULL && b->name != NULL && strcmp(a->name, b->name) == 0 &&
		    strcmp(a->ns, b->ns) == 0)
			return 1;
	}
	return 0;
}

/*
 * Loads the -f paths. A path that cannot be opened, and paths that hold no
 * AppDatabase at all, are usage errors (2) for every command; a file that
 * cannot be parsed is 1.
 */
static int load_manifests(struct manifest_set *set, const struct cli_opts *o)
{
	struct err err = {0};
	size_t i;
	int rc;

	if (o->n_paths == 0) {
		fprintf(stderr, "appdb-operator: -f PATH is required\n%s", USAGE);
		return EXIT_USAGE;
	}
	rc = manifest_load(set, o->paths, o->n_paths, &err);
	if (rc != 0) {
		put_escaped("appdb-operator: ", err.msg[0] ? err.msg : "out of memory", "\n");
		return rc == APPDB_ENOTFOUND ? EXIT_USAGE : EXIT_FAILED;
	}
	if (set->n == 0) {
		fprintf(stderr, "appdb-operator: no manifests found in");
		for (i = 0; i < o->n_paths; i++)
			put_escaped(i > 0 ? ", " : " ", o->paths[i], "");
		fprintf(stderr, " (no AppDatabase document)\n");
		return EXIT_USAGE;
	}
	return 0;
}

/* What each run of the one-shot pass reads (runall). */
struct run_ctx {
	const struct manifest_set *set;
	enum engine_mode mode;
};

static const char *item_instance(void *ctx, size_t i)
{
	const struct run_ctx *c = ctx;
	const struct appdb *db = c->set->items[i].db;

	return db != NULL && c->set->items[i].problems == NULL ? db->instance : NULL;
}

/* One resource of the manifests: invalid, a duplicate, or a reconcile. */
static int run_item(void *ctx, struct engine *eng, size_t i, struct run_result *out)
{
	const struct run_ctx *c = ctx;
	const struct manifest_item *it = &c->set->items[i];

	if (it->problems != NULL)
		return engine_report_invalid(out, eng, it->db, it->problems);
	if (duplicate_of_earlier(c->set, i))
		return engine_report_invalid(out, eng, it->db,
		                             "metadata.name: the same resource appears twice "
		                             "in the manifests");
	return engine_reconcile(out, eng, it->db, c->mode);
}

/* reconcile and plan: one pass over the manifests, `workers` at a time. */
static int cmd_reconcile(int argc, char **argv, enum engine_mode mode)
{
	struct cli_opts o;
	struct config *cfg = NULL;
	struct manifest_set set = {0};
	struct secret_resolver resolver = {0};
	struct sources sources = {0};
	struct audit *audit = NULL;
	struct runall_opts ro = {0};
	struct run_ctx rc_ctx = {0};
	struct run_result *results = NULL;
	struct err err = {0};
	int code = EXIT_DONE, changes = 0, failed = 0;
	size_t i;

	if ((code = parse_opts(&o, argc, argv, LOG_WARN)) != 0)
		goto out;
	if (config_load(&cfg, o.config, &err) != 0) {
		fprintf(stderr, "appdb-operator: configuration: %s\n", err.msg);
		code = EXIT_USAGE;
		goto out;
	}
	if ((code = load_manifests(&set, &o)) != 0)
		goto out;
	if (sources_init(&sources, cfg, &err) != 0) {
		fprintf(stderr, "appdb-operator: configuration: %s\n", err.msg);
		code = EXIT_USAGE;
		goto out;
	}
	if (mode == ENGINE_APPLY && audit_open(&audit, cfg->cache_dir, 1, &err) != 0) {
		fprintf(stderr, "appdb-operator: %s\n", err.msg);
		code = EXIT_USAGE;
		goto out;
	}
	sources_apply(&sources, &resolver, NULL);
	secret_resolver_set(&resolver, SECRET_KUBE, manifest_secret_fetch, &set);

	ro.cfg = cfg;
	ro.resolver = &resolver;
	ro.sources = &sources;
	ro.audit = audit;
	ro.n = set.n;
	ro.instance_of = item_instance;
	ro.run_one = run_item;
	ro.ctx = &rc_ctx;
	rc_ctx.set = &set;
	rc_ctx.mode = mode;
	results = calloc(set.n + 1, sizeof(*results));
	if (results == NULL || runall(results, &ro, &err) != 0) {
		fprintf(stderr, "appdb-operator: out of memory\n");
		code = EXIT_FAILED;
		goto out;
	}
	for (i = 0; i < set.n; i++) {
		struct run_result *r = &results[i];

		print_summary(set.items[i].db, r, mode == ENGINE_PLAN);
		if (mode == ENGINE_PLAN)
			print_plan_json(set.items[i].db, r);
		if (r->result == RESULT_CHANGED)
			changes = 1;
		else if (r->result != RESULT_UNCHANGED)
			failed = 1;
	}
	code = failed ? EXIT_FAILED : (mode == ENGINE_PLAN && changes) ? EXIT_CHANGES : EXIT_DONE;
out:
	for (i = 0; results != NULL && i < set.n; i++)
		run_result_clear(&results[i]);
	free(results);
	audit_close(audit);
	sources_clear(&sources);
	manifest_clear(&set);
	config_free(cfg);
	free(o.paths);
	return code;
}

/* run: the controller. */
static int cmd_run(int argc, char **argv)
{
	struct cli_opts o;
	struct config *cfg = NULL;
	struct sources sources = {0};
	struct err err = {0};
	int code;

	if ((code = parse_opts(&o, argc, argv, LOG_INFO)) != 0)
		goto out;
	if (o.n_paths > 0) {
		fprintf(stderr, "appdb-operator: run takes no -f\n%s", USAGE);
		code = EXIT_USAGE;
		goto out;
	}
	if (config_load(&cfg, o.config, &err) != 0 || sources_init(&sources, cfg, &err) != 0) {
		fprintf(stderr, "appdb-operator: configuration: %s\n", err.msg);
		code = EXIT_USAGE;
		goto out;
	}
	code = controller_run(cfg, o.kubeconfig, &sources);
out:
	sources_clear(&sources);
	config_free(cfg);
	free(o.paths);
	return code;
}

/* validate: decoding and the rules only, no database. */
static int cmd_validate(int argc, char **argv)
{
	struct cli_opts o;
	struct config *cfg = NULL;
	struct manifest_set set = {0};
	struct err err = {0};
	int code, bad = 0;
	size_t i;

	if ((code = parse_opts(&o, argc, argv, LOG_WARN)) != 0)
		goto out;
	if ((o.config_given || access(o.config, R_OK) == 0) &&
	    config_load(&cfg, o.config, &err) != 0) {
		fprintf(stderr, "appdb-operator: configuration: %s\n", err.msg);
		code = EXIT_USAGE;
		goto out;
	}
	if ((code = load_manifests(&set, &o)) != 0)
		goto out;
	for (i = 0; i < set.n; i++) {
		const struct manifest_item *it = &set.items[i];
		const struct appdb *db = it->db;
		struct field_errs errs = {0};
		const struct instance_config *in = NULL;
		char *msg = NULL;

		if (it->problems == NULL) {
			if (cfg != NULL)
				in = config_instance(cfg, db->instance);
			if (validate_appdb(db, in != NULL ? in->admin_user : NULL, &errs) != 0 ||
			    (in != NULL && validate_appdb_instance(db, in, &errs) != 0))
				msg = field_errs_join(&errs);
			if (duplicate_of_earlier(&set, i)) {
				free(msg);
				msg = strdup("metadata.name: the same resource appears twice");
			}
		}
		put_escaped("", it->where, ": ");
		put_escaped("", db != NULL ? db->ns : NULL, "/");
		if (it->problems != NULL || msg != NULL) {
			bad = 1;
			put_escaped("", db != NULL ? db->name : NULL, ": invalid: ");
			put_escaped("", it->problems != NULL ? it->problems : msg, "\n");
		} else {
			put_escaped("", db->name, ": valid\n");
		}
		free(msg);
		field_errs_clear(&errs);
	}
	code = bad ? EXIT_FAILED : EXIT_DONE;
out:
	manifest_clear(&set);
	config_free(cfg);
	free(o.paths);
	return code;
}

/*
 * import: AppDatabase manifests on stdout for what an instance already
 * has; read only. 0 when printed, 1 when the instance could not be read,
 * 2 usage or configuration error.
 */
static int cmd_import(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"instance", required_argument, NULL, 'i'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = CONFIG_DEFAULT_PATH, *instance = NULL, *ns = NULL;
	const struct instance_config *in;
	struct config *cfg = NULL;
	struct secret_resolver resolver = {0};
	struct sources sources = {0};
	struct engine *eng = NULL;
	struct err err = {0};
	size_t printed = 0;
	int c, code = EXIT_DONE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:i:n:h", longopts, NULL)) != -1) {
		if (c == 'c')
			config = optarg;
		else if (c == 'i')
			instance = optarg;
		else if (c == 'n')
			ns = optarg;
		else
			goto usage;
	}
	if (optind < argc || instance == NULL)
		goto usage;
	if (ns != NULL && !validate_dns_label(ns)) {
		fprintf(stderr, "appdb-operator: --namespace must be a DNS-1123 label\n");
		return EXIT_USAGE;
	}
	log_configure(LOG_WARN, LOG_TEXT);
	if (config_load(&cfg, config, &err) != 0 || sources_init(&sources, cfg, &err) != 0) {
		fprintf(stderr, "appdb-operator: configuration: %s\n", err.msg);
		code = EXIT_USAGE;
		goto out;
	}
	if ((in = config_instance(cfg, instance)) == NULL) {
		put_escaped("appdb-operator: instance ", instance,
		            " is not in the operator configuration\n");
		code = EXIT_USAGE;
		goto out;
	}
	if (engine_new(&eng, cfg, &resolver, &err) != 0) {
		fprintf(stderr, "appdb-operator: %s\n", err.msg);
		code = EXIT_USAGE;
		goto out;
	}
	sources_apply(&sources, &resolver, eng);
	if (import_run(stdout, eng, in, ns, &printed, &err) != 0) {
		put_escaped("appdb-operator: import: ", err.msg, "\n");
		code = EXIT_FAILED;
		goto out;
	}
	fprintf(stderr, "appdb-operator: %zu AppDatabase(s) for instance %s\n", printed, in->name);
out:
	engine_free(eng);
	sources_clear(&sources);
	config_free(cfg);
	return code;
usage:
	fputs(USAGE, stderr);
	return EXIT_USAGE;
}

/* Adds every line of path ("-": stdin) to rep. Returns 0, or EXIT_USAGE/EXIT_FAILED with a message.
 */
static int report_file(struct report *rep, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int code = EXIT_DONE;

	if (f == NULL) {
		put_escaped("appdb-operator: cannot open ", path, "");
		fprintf(stderr, ": %s\n", strerror(errno));
		return EXIT_USAGE;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		if (report_add_line(rep, line, (size_t)n) == APPDB_ENOMEM) {
			fprintf(stderr, "appdb-operator: out of memory\n");
			code = EXIT_FAILED;
			break;
		}
	}
	if (code == EXIT_DONE && ferror(f)) {
		put_escaped("appdb-operator: could not read ", path, "\n");
		code = EXIT_FAILED;
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return code;
}

/* report: the governance figures from the audit trail (DESIGN 11.5). */
static int cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"filename", required_argument, NULL, 'f'},
	    {"since", required_argument, NULL, 's'},  {"format", required_argument, NULL, 'F'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	const char *config = CONFIG_DEFAULT_PATH,
	           **paths = calloc((size_t)argc + 1, sizeof(char *));
	struct config *cfg = NULL;
	struct report *rep = NULL;
	struct err err = {0};
	json_t *fig = NULL;
	char *text = NULL, *audit_path = NULL;
	size_t n_paths = 0, i;
	time_t since = -1;
	int json = 0, c, code = EXIT_USAGE;

	if (paths == NULL)
		goto out;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:f:h", longopts, NULL)) != -1) {
		if (c == 'c') {
			config = optarg;
		} else if (c == 'f') {
			paths[n_paths++] = optarg;
		} else if (c == 's' && (since = clock_parse(optarg)) >= 0) {
			continue;
		} else if (c == 'F' &&
		           (strcmp(optarg, "json") == 0 || strcmp(optarg, "markdown") == 0)) {
			json = strcmp(optarg, "json") == 0;
		} else {
			if (c == 's')
				put_escaped("appdb-operator: --since wants an RFC 3339 time, not ",
				            optarg, "\n");
			fputs(USAGE, stderr);
			goto out;
		}
	}
	if (optind < argc) {
		put_escaped("appdb-operator: unexpected argument ", argv[optind], "\n");
		fputs(USAGE, stderr);
		goto out;
	}
	if (n_paths == 0) {
		/* The trail of the config's cacheDir, as the controller writes it. */
		if (config_load(&cfg, config, &err) != 0) {
			fprintf(stderr, "appdb-operator: configuration: %s\n", err.msg);
			goto out;
		}
		if (asprintf(&audit_path, "%s/audit.jsonl", cfg->cache_dir) < 0) {
			audit_path = NULL;
			goto out;
		}
		paths[n_paths++] = audit_path;
	}
	code = EXIT_FAILED;
	if (report_new(&rep, since) != 0)
		goto out;
	for (i = 0; i < n_paths; i++)
		if ((code = report_file(rep, paths[i])) != EXIT_DONE)
			goto out;
	code = EXIT_FAILED;
	if (report_json(&fig, rep) != 0)
		goto out;
	if (json)
		text = json_dumps(fig, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	else if (report_markdown(&text, fig) != 0)
		text = NULL;
	if (text == NULL) {
		fprintf(stderr, "appdb-operator: out of memory\n");
		goto out;
	}
	fputs(text, stdout);
	if (json)
		fputc('\n', stdout);
	code = EXIT_DONE;
out:
	free(text);
	json_decref(fig);
	report_free(rep);
	free(audit_path);
	config_free(cfg);
	free(paths);
	return code;
}

int cli_main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(USAGE, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("appdb-operator %s (build %s)\n", APPDB_VERSION, APPDB_BUILD_ID);
		return EXIT_DONE;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "reconcile") == 0)
		return cmd_reconcile(argc - 1, argv + 1, ENGINE_APPLY);
	if (strcmp(argv[1], "plan") == 0)
		return cmd_reconcile(argc - 1, argv + 1, ENGINE_PLAN);
	if (strcmp(argv[1], "validate") == 0)
		return cmd_validate(argc - 1, argv + 1);
	if (strcmp(argv[1], "import") == 0)
		return cmd_import(argc - 1, argv + 1);
	if (strcmp(argv[1], "report") == 0)
		return cmd_report(argc - 1, argv + 1);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(USAGE, stdout);
		return EXIT_DONE;
	}
	fprintf(stderr, "appdb-operator: unknown command %s\n%s", argv[1], USAGE);
	return EXIT_USAGE;
}
