/*
 * import.c - `appdb-operator import`: AppDatabase manifests (adopt: true,
 * users without passwordFrom) for the databases and roles an instance
 * already has, so a platform team can bring it under management in one
 * reviewed commit (DESIGN 11.2). Each user's access level is read from its
 * grants; one that fits no level gets the nearest and a comment saying
 * what differs. Every manifest printed passes validate_appdb; what cannot
 * be expressed is a comment instead. Read only: no statement changes
 * anything.
 */
#include "import.h"

#include "pg.h"
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT_APP_NAME "appdb-operator/import"
#define NOTE_MAX 1024

/* A note (a YAML comment line) being built; text past its size is cut. */
struct note {
	char text[NOTE_MAX];
	size_t len;
};

static void note_add(struct note *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note_add(struct note *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (n->len >= sizeof(n->text) - 1)
		return;
	if (n->len > 0)
		n->len += (size_t)snprintf(n->text + n->len, sizeof(n->text) - n->len, "; ");
	if (n->len >= sizeof(n->text) - 1)
		return;
	va_start(ap, fmt);
	w = vsnprintf(n->text + n->len, sizeof(n->text) - n->len, fmt, ap);
	va_end(ap);
	n->len += w > 0 ? (size_t)w : 0;
	if (n->len >= sizeof(n->text))
		n->len = sizeof(n->text) - 1;
}

/* Prints "# text" with anything but printable ASCII shown as '?' (names come from the server). */
static void put_comment(FILE *out, const char *indent, const char *text)
{
	const char *p;

	fprintf(out, "%s# ", indent);
	for (p = text; *p != '\0'; p++)
		fputc(*p >= 0x20 && *p < 0x7f ? *p : '?', out);
	fputc('\n', out);
}

/* Prints s as a YAML double-quoted scalar (JSON's string syntax is YAML's). */
static void put_str(FILE *out, const char *s)
{
	json_t *j = json_string(s);
	char *e = j != NULL ? json_dumps(j, JSON_ENCODE_ANY) : NULL;

	fputs(e != NULL ? e : "\"\"", out);
	free(e);
	json_decref(j);
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* 1 when the JSON array of pairs holds [a, b]. */
static int has_pair(json_t *pairs, const char *a, const char *b)
{
	size_t i;
	json_t *p;

	json_array_foreach (pairs, i, p) {
		const char *x = json_string_value(json_array_get(p, 0));
		const char *y = json_string_value(json_array_get(p, 1));

		if (x != NULL && y != NULL && strcmp(x, a) == 0 && strcmp(y, b) == 0)
			return 1;
	}
	return 0;
}

/* 1 when comment is a marker of appdb-operator's. */
static int is_marked(const char *comment)
{
	json_t *c = comment != NULL ? json_loads(comment, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(c, "managedBy"));
	int yes = m != NULL && strcmp(m, "appdb-operator") == 0;

	json_decref(c);
	return yes;
}

/* The role object named name in roles, or NULL. */
static json_t *find_role(json_t *roles, const char *name)
{
	size_t i;
	json_t *r;

	json_array_foreach (roles, i, r) {
		const char *n = jstr(r, "name");

		if (n != NULL && strcmp(n, name) == 0)
			return r;
	}
	return NULL;
}

/* A DNS-1123 name for a database name: '_' becomes '-', no '-' at either end. */
static void resource_name(char *out, size_t len, const char *db)
{
	size_t i, n = 0;

	for (i = 0; db[i] != '\0' && n + 1 < len; i++) {
		char c = db[i] == '_' ? '-' : db[i];

		if (c == '-' && n == 0)
			continue;
		out[n++] = c;
	}
	while (n > 0 && out[n - 1] == '-')
		n--;
	out[n] = '\0';
	if (n == 0)
		snprintf(out, len, "db");
}

/* One user of a database, with what import read of it. */
struct import_user {
	const char *name;
	enum access access;
	int conn_limit;
	struct note differs; /* what its grants have that the level does not, or lack */
	struct note warn;    /* what adoption will refuse */
};

/* 1 when name is one of the n names. */
static int in_list(char *const *names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

/* Sums of one role's privileges over the schemas of the spec. */
struct priv_sums {
	long t, ts, ti, tu, td, q, qs, qu, qw;
};

static long jint(json_t *o, const char *key)
{
	return (long)json_integer_value(json_object_get(o, key));
}

/* The nearest access level for u from its per-schema privileges (privs, of u only counted). */
static void infer_access(struct import_user *u, json_t *privs, int owner_member,
                         char *const *schemas, size_t n_schemas)
{
	struct priv_sums s = {0};
	struct note *d = &u->differs;
	size_t i;
	json_t *p;
	int write;

	if (owner_member) {
		u->access = ACCESS_OWNER;
		return;
	}
	json_array_foreach (privs, i, p) {
		const char *role = jstr(p, "role");

		if (role == NULL || strcmp(role, u->name) != 0 || jstr(p, "schema") == NULL ||
		    !in_list(schemas, n_schemas, jstr(p, "schema")))
			continue;
		if (!json_is_true(json_object_get(p, "usage")))
			note_add(d, "no USAGE on schema %s", jstr(p, "schema"));
		if (json_is_true(json_object_get(p, "create")))
			note_add(d, "CREATE on schema %s, which no level grants",
			         jstr(p, "schema"));
		s.t += jint(p, "t");
		s.ts += jint(p, "tSELECT");
		s.ti += jint(p, "tINSERT");
		s.tu += jint(p, "tUPDATE");
		s.td += jint(p, "tDELETE");
		s.q += jint(p, "q");
		s.qs += jint(p, "qSELECT");
		s.qu += jint(p, "qUSAGE");
		s.qw += jint(p, "qUPDATE");
	}
	write = s.ti + s.tu + s.td + s.qw > 0;
	u->access = write ? ACCESS_READWRITE : ACCESS_READONLY;
	if (s.ts < s.t)
		note_add(d, "SELECT on %ld of %ld tables", s.ts, s.t);
	if (s.qs < s.q)
		note_add(d, "SELECT on %ld of %ld sequences", s.qs, s.q);
	if (!write)
		return;
	if (s.ti < s.t)
		note_add(d, "INSERT on %ld of %ld tables", s.ti, s.t);
	if (s.tu < s.t)
		note_add(d, "UPDATE on %ld of %ld tables", s.tu, s.t);
	if (s.td < s.t)
		note_add(d, "DELETE on %ld of %ld tables", s.td, s.t);
	if (s.qu < s.q)
		note_add(d, "USAGE on %ld of %ld sequences", s.qu, s.q);
	if (s.qw < s.q)
		note_add(d, "UPDATE on %ld of %ld sequences", s.qw, s.q);
}

/* The databases other than db that role reaches, into n. */
static void note_other_reach(struct note *n, json_t *reach, const char *db, const char *role)
{
	struct note dbs = {0};
	size_t i;
	json_t *p;

	json_array_foreach (reach, i, p) {
		const char *d = json_string_value(json_array_get(p, 0));
		const char *r = json_string_value(json_array_get(p, 1));

		if (d != NULL && r != NULL && strcmp(r, role) == 0 && strcmp(d, db) != 0)
			note_add(&dbs, "%s", d);
	}
	if (dbs.len > 0)
		note_add(n,
		         "role %s is also granted something in database(s) %s: adoption is "
		         "refused until that is removed",
		         role, dbs.text);
}

struct import_ctx {
	FILE *out;
	struct engine *eng;
	const struct instance_config *inst;
	const char *ns;
	json_t *cat; /* pg_import_instance */
	const char *admin;
	int printed;
};

/* The users of database db: login roles that reach it or are members of its owner. */
static size_t collect_users(struct import_ctx *c, struct import_user *users, size_t max,
                            const char *db, const char *owner, struct note *skipped)
{
	json_t *roles = json_object_get(c->cat, "roles");
	json_t *reach = json_object_get(c->cat, "reach");
	json_t *members = json_object_get(c->cat, "members");
	size_t i, n = 0;
	json_t *r;

	json_array_foreach (roles, i, r) {
		const char *name = jstr(r, "name");

		if (name == NULL || n >= max || !json_is_true(json_object_get(r, "login")) ||
		    strcmp(name, owner) == 0 || strcmp(name, c->admin) == 0)
			continue;
		if (!has_pair(reach, db, name) && !has_pair(members, owner, name))
			continue;
		if (!validate_identifier(name) || validate_reserved_role(name, c->admin) ||
		    is_marked(jstr(r, "comment")) || json_is_true(json_object_get(r, "elevated"))) {
			note_add(skipped, "role %s is not listed: %s", name,
			         is_marked(jstr(r, "comment")) ? "it is managed already"
			         : json_is_true(json_object_get(r, "elevated"))
			             ? "it has SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or "
			               "BYPASSRLS"
			             : "its name is not one an AppDatabase can hold");
			continue;
		}
		memset(&users[n], 0, sizeof(users[n]));
		users[n].name = name;
		users[n].conn_limit = (int)json_integer_value(json_object_get(r, "connlimit"));
		if (users[n].conn_limit < -1 || users[n].conn_limit > 10000)
			users[n].conn_limit = -1;
		note_other_reach(&users[n].warn, reach, db, name);
		n++;
	}
	return n;
}

/* Reads the schemas and grants inside db (*out: pg_import_database's object). */
static int read_database(struct import_ctx *c, json_t **out, const struct import_user *users,
                         size_t n, const char *db, struct err *err)
{
	const char *names[100];
	PGconn *conn = NULL;
	size_t i;
	int rc;

	*out = NULL;
	for (i = 0; i < n; i++)
		names[i] = users[i].name;
	rc = engine_connect_admin(&conn, c->eng, c->inst, db, IMPORT_APP_NAME, err);
	if (rc == 0)
		rc = pg_import_database(out, conn, names, n, err);
	PQfinish(conn);
	return rc;
}

/* Prints the manifest of db, or a comment saying why there is none. */
static int import_database(struct import_ctx *c, json_t *d)
{
	const char *db = jstr(d, "name"), *owner = jstr(d, "owner");
	json_t *owner_role = find_role(json_object_get(c->cat, "roles"), owner);
	struct import_user users[100];
	struct appdb spec = {0};
	struct appdb_user specu[100];
	struct field_errs errs = {0};
	struct note why = {0}, skipped = {0};
	struct err err = {0};
	json_t *in = NULL, *s;
	char *schema_names[32];
	char rname[64];
	size_t i, n, n_schemas = 0;
	int rc = 0;

	if (db == NULL || owner == NULL)
		return 0;
	if (strcmp(db, c->inst->admin_database) == 0 || strcmp(db, "postgres") == 0 ||
	    strcmp(db, "rdsadmin") == 0)
		return 0;
	if (is_marked(jstr(d, "comment")))
		note_add(&why, "database %s is managed already", db);
	else if (strcmp(owner, c->admin) == 0)
		note_add(&why,
		         "database %s is owned by the admin role %s; give it a NOLOGIN owner "
		         "(ALTER DATABASE %s OWNER TO ...) and import again",
		         db, owner, db);
	if (why.len > 0) {
		put_comment(c->out, "", why.text);
		return 0;
	}
	n = collect_users(c, users, sizeof(users) / sizeof(users[0]), db, owner, &skipped);
	rc = read_database(c, &in, users, n, db, &err);
	if (rc == APPDB_ENOMEM)
		return rc;
	if (rc != 0) {
		note_add(&why,
		         "database %s: could not read its grants (%s); levels below are guesses",
		         db, err.msg);
		rc = 0;
	}
	/* public, and the schemas of the owner: a schema of another role is not the resource's. */
	json_array_foreach (json_object_get(in, "schemas"), i, s) {
		const char *name = jstr(s, "name"), *sowner = jstr(s, "owner");

		if (name == NULL || sowner == NULL)
			continue;
		if (strcmp(name, "public") != 0 && strcmp(sowner, owner) != 0)
			note_add(&skipped, "schema %s is left out: it belongs to %s", name, sowner);
		else if (!validate_identifier(name))
			note_add(&skipped, "schema %s is left out: its name is not an identifier",
			         name);
		else if (n_schemas == 32)
			note_add(&skipped, "schema %s is left out: an AppDatabase has at most 32",
			         name);
		else
			schema_names[n_schemas++] = (char *)name;
	}
	for (i = 0; i < n; i++)
		infer_access(&users[i], json_object_get(in, "privs"),
		             has_pair(json_object_get(c->cat, "members"), owner, users[i].name),
		             schema_names, n_schemas);

	/* The spec as the operator will read it: printed only when it validates. */
	resource_name(rname, sizeof(rname), db);
	spec.name = rname;
	spec.ns = (char *)(c->ns != NULL ? c->ns : "default");
	spec.instance = c->inst->name;
	spec.db_name = (char *)db;
	spec.owner = (char *)owner;
	spec.schemas = schema_names;
	spec.n_schemas = n_schemas;
	spec.adopt = 1;
	for (i = 0; i < n; i++) {
		memset(&specu[i], 0, sizeof(specu[i]));
		specu[i].name = (char *)users[i].name;
		specu[i].access = users[i].access;
		specu[i].connection_limit = users[i].conn_limit;
	}
	spec.users = specu;
	spec.n_users = n;
	if (validate_appdb(&spec, c->admin, &errs) != 0) {
		char *msg = field_errs_join(&errs);
		struct note no = {0};

		note_add(&no, "database %s cannot be imported: %s", db, msg != NULL ? msg : "");
		put_comment(c->out, "", no.text);
		free(msg);
		field_errs_clear(&errs);
		json_decref(in);
		return 0;
	}

	fprintf(c->out, "---\n");
	{
		struct note head = {0};

		note_add(&head, "database %s on instance %s, owned by %s", db, c->inst->name,
		         owner);
		put_comment(c->out, "", head.text);
	}
	if (why.len > 0)
		put_comment(c->out, "", why.text);
	if (skipped.len > 0)
		put_comment(c->out, "", skipped.text);
	if (owner_role != NULL && json_is_true(json_object_get(owner_role, "login"))) {
		struct note w = {0};

		note_add(&w, "owner %s can log in: adopting it makes it NOLOGIN", owner);
		put_comment(c->out, "", w.text);
	}
	if (owner_role != NULL && json_is_true(json_object_get(owner_role, "elevated")))
		put_comment(
		    c->out, "",
		    "the owner has SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS: "
		    "adoption is refused");
	{
		struct note w = {0};

		note_other_reach(&w, json_object_get(c->cat, "reach"), db, owner);
		if (w.len > 0)
			put_comment(c->out, "", w.text);
	}
	fprintf(c->out, "apiVersion: %s\nkind: %s\nmetadata:\n  name: ", APPDB_API_VERSION,
	        APPDB_KIND);
	put_str(c->out, rname);
	if (c->ns != NULL) {
		fprintf(c->out, "\n  namespace: ");
		put_str(c->out, c->ns);
	}
	fprintf(c->out, "\nspec:\n  instance: ");
	put_str(c->out, c->inst->name);
	fprintf(c->out, "\n  adopt: true\n  database:\n    name: ");
	put_str(c->out, db);
	fprintf(c->out, "\n    owner: ");
	put_str(c->out, owner);
	fprintf(c->out, "\n  schemas: [");
	for (i = 0; i < n_schemas; i++) {
		fputs(i > 0 ? ", " : "", c->out);
		put_str(c->out, schema_names[i]);
	}
	fprintf(c->out, "]\n  users:%s\n", n == 0 ? " []" : "");
	for (i = 0; i < n; i++) {
		const struct import_user *u = &users[i];

		if (u->differs.len > 0) {
			struct note m = {0};

			note_add(&m, "%s is the nearest level; its grants differ: %s",
			         access_name(u->access), u->differs.text);
			put_comment(c->out, "    ", m.text);
		}
		if (u->warn.len > 0)
			put_comment(c->out, "    ", u->warn.text);
		fprintf(c->out, "    - name: ");
		put_str(c->out, u->name);
		fprintf(c->out, "\n      access: %s\n", access_name(u->access));
		if (u->conn_limit >= 0)
			fprintf(c->out, "      connectionLimit: %d\n", u->conn_limit);
	}
	c->printed++;
	json_decref(in);
	return 0;
}

int import_run(FILE *out, struct engine *eng, const struct instance_config *inst, const char *ns,
               size_t *n_printed, struct err *err)
{
	struct import_ctx c = {out, eng, inst, ns, NULL, NULL, 0};
	PGconn *conn = NULL;
	size_t i;
	json_t *d;
	int rc;

	*n_printed = 0;
	rc = engine_connect_admin(&conn, eng, inst, NULL, IMPORT_APP_NAME, err);
	if (rc == 0)
		rc = pg_import_instance(&c.cat, conn, err);
	PQfinish(conn);
	if (rc != 0)
		return rc;
	c.admin = jstr(c.cat, "admin");
	if (c.admin == NULL) {
		json_decref(c.cat);
		return err_set(err, APPDB_EINTERNAL, "unexpected catalog result");
	}
	fprintf(out,
	        "# AppDatabases for what instance %s already has (appdb-operator import);\n"
	        "# review before applying: each is adopted as written, nothing is dropped.\n",
	        inst->name);
	json_array_foreach (json_object_get(c.cat, "databases"), i, d) {
		if ((rc = import_database(&c, d)) != 0)
			break;
	}
	*n_printed = (size_t)c.printed;
	json_decref(c.cat);
	return rc;
}
