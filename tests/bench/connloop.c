/*
 * connloop.c - the floor of an in-database check for `make bench`: a bare
 * libpq connect (same TLS and SCRAM settings as the operator's sessions),
 * one query, disconnect, for each database named, ROUNDS times over.
 *
 * usage: connloop HOST PORT USER PASSWORD_FILE SSLROOTCERT ROUNDS DB...
 * Prints the wall seconds per connect-and-query on stdout.
 *
 *        connloop HOST PORT USER PASSWORD_FILE SSLROOTCERT ROUNDS @FILE
 * The same, but from FILE: each line is a database, the parameters of a
 * statement and the statement, separated by tabs; for each run of lines of
 * one database it connects there and runs those statements with their
 * parameters: the operator's own in-database check, replayed with nothing
 * around it. Prints the wall seconds per database.
 *
 *        connloop --libfloor HOST PORT USER PASSWORD_FILE SSLROOTCERT
 * The libraries' floor in use: initialises libcurl (TLS included), makes
 * one TLS connection with libpq to the database postgres and runs a query,
 * then prints its resident size in KB: "total anonymous file-backed". This
 * program links the operator's libraries, so the pages they touch to do
 * that much are the least any process using them for those jobs holds.
 *
 *        connloop --spawn PROGRAM ARG...
 * Runs PROGRAM (stdout to /dev/null) and prints "seconds max-RSS-KB exit-status":
 * a child forked from this small program, unlike one forked from Python,
 * starts with almost nothing resident, so its maximum resident size is the
 * program's own.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int spawn(char **argv)
{
	struct rusage ru;
	double start = now();
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || wait4(pid, &status, 0, &ru) != pid)
		return 1;
	printf("%.6f %ld %d\n", now() - start, ru.ru_maxrss,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}

/* The bare floor's query. */
#define FLOOR_QUERY "SELECT pg_catalog.count(*) FROM pg_catalog.pg_namespace"

/* A database, the parameters of a statement and the statement (a replay line split at its tabs). */
struct line {
	char *f[8];
	int n;
};

static struct line *read_replay(const char *path, int *count)
{
	static char buf[1 << 20];
	struct line *lines = NULL;
	FILE *f = fopen(path, "r");
	int n = 0;

	if (f == NULL)
		return NULL;
	while (fgets(buf, sizeof(buf), f) != NULL) {
		struct line *l;
		char *p = strdup(buf), *tab;

		lines = realloc(lines, (size_t)(n + 1) * sizeof(*lines));
		if (p == NULL || lines == NULL)
			exit(2);
		p[strcspn(p, "\r\n")] = '\0';
		l = &lines[n++];
		l->n = 0;
		while (l->n < 8) {
			l->f[l->n++] = p;
			if ((tab = strchr(p, '\t')) == NULL)
				break;
			*tab = '\0';
			p = tab + 1;
		}
	}
	fclose(f);
	*count = n;
	return lines;
}

/* Prints "VmRSS RssAnon RssFile" (KB) of this process; 0 when it could. */
static int print_rss(void)
{
	char line[256];
	long v[3] = {0, 0, 0};
	const char *keys[3] = {"VmRSS:", "RssAnon:", "RssFile:"};
	FILE *f = fopen("/proc/self/status", "r");
	int k;

	if (f == NULL)
		return 1;
	while (fgets(line, sizeof(line), f) != NULL)
		for (k = 0; k < 3; k++)
			if (strncmp(line, keys[k], strlen(keys[k])) == 0)
				v[k] = atol(line + strlen(keys[k]));
	fclose(f);
	printf("%ld %ld %ld\n", v[0], v[1], v[2]);
	return 0;
}

/*
 * One connect to the database of lines[0], each of the nl lines' statement
 * with its parameters (text), disconnect; 0 when it all worked.
 */
static int check(char **argv, const char *pw, const struct line *l, int nl)
{
	const char *keys[] = {"host",   "port",    "user",        "password",
	                      "dbname", "sslmode", "sslrootcert", "application_name",
	                      NULL};
	const char *vals[] = {argv[1],       argv[2], argv[3],    pw,  l[0].f[0],
	                      "verify-full", argv[5], "connloop", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 0);
	int k, rc = 0;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "connloop: %s", PQerrorMessage(c));
		PQfinish(c);
		return 1;
	}
	for (k = 0; k < nl && rc == 0; k++) {
		const char *sql = l[k].f[l[k].n - 1];
		int np = l[k].n - 2;
		PGresult *r = np > 0 ? PQexecParams(c, sql, np, NULL,
		                                    (const char *const *)l[k].f + 1, NULL, NULL, 0)
		                     : PQexec(c, sql);

		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			fprintf(stderr, "connloop: %s", PQerrorMessage(c));
			rc = 1;
		}
		PQclear(r);
	}
	PQfinish(c);
	return rc;
}

int main(int argc, char **argv)
{
	char pw[256] = "";
	FILE *f;
	int rounds, i, d, n = 0, libfloor = 0;
	double start;

	if (argc >= 3 && strcmp(argv[1], "--spawn") == 0)
		return spawn(argv + 2);
	if (argc == 7 && strcmp(argv[1], "--libfloor") == 0) {
		libfloor = 1;
		argv++;
		argc--;
	}
	if (argc < 8 && !libfloor) {
		fprintf(stderr,
		        "usage: connloop HOST PORT USER PASSWORD_FILE SSLROOTCERT ROUNDS DB...\n");
		return 2;
	}
	f = fopen(argv[4], "r");
	if (f == NULL || fgets(pw, sizeof(pw), f) == NULL) {
		fprintf(stderr, "connloop: cannot read %s\n", argv[4]);
		return 2;
	}
	fclose(f);
	pw[strcspn(pw, "\r\n")] = '\0';
	if (libfloor) {
		struct line l = {{(char *)"postgres", (char *)"SELECT 1"}, 2};

		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
		    check(argv, pw, &l, 1) != 0)
			return 1;
		return print_rss();
	}
	rounds = atoi(argv[6]);
	if (argv[7][0] == '@') {
		int nl = 0, k;
		struct line *lines = read_replay(argv[7] + 1, &nl);

		if (lines == NULL || nl == 0) {
			fprintf(stderr, "connloop: nothing to replay in %s\n", argv[7] + 1);
			return 2;
		}
		start = now();
		for (i = 0; i < rounds; i++) {
			for (k = 0; k < nl; k += d, n++) {
				for (d = 1;
				     k + d < nl && strcmp(lines[k + d].f[0], lines[k].f[0]) == 0;
				     d++)
					;
				if (check(argv, pw, lines + k, d) != 0)
					return 1;
			}
		}
		printf("%.6f\n", (now() - start) / n); /* per database: one check */
		return 0;
	}
	start = now();
	for (i = 0; i < rounds; i++) {
		for (d = 7; d < argc; d++, n++) {
			struct line l = {{argv[d], (char *)FLOOR_QUERY}, 2};

			if (check(argv, pw, &l, 1) != 0)
				return 1;
		}
	}
	printf("%.6f\n", (now() - start) / n);
	return 0;
}
