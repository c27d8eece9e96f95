/*
 * connloop.c - the floor of an in-database check for `make bench`: a bare
 * libpq connect (same TLS and SCRAM settings as the operator's sessions),
 * one query, disconnect, for each database named, ROUNDS times over.
 *
 * usage: connloop HOST PORT USER PASSWORD_FILE SSLROOTCERT ROUNDS DB...
 * Prints the wall seconds per connect-and-query on stdout.
 *
 *        connloop --spawn PROGRAM ARG...
 * Runs PROGRAM (stdout to /dev/null) and prints "seconds max-RSS-KB exit-status":
 * a child forked from this small program, unlike one forked from Python,
 * starts with almost nothing resident, so its maximum resident size is the
 * program's own.
 */
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

int main(int argc, char **argv)
{
	char pw[256] = "";
	FILE *f;
	int rounds, i, d, n = 0;
	double start;

	if (argc >= 3 && strcmp(argv[1], "--spawn") == 0)
		return spawn(argv + 2);
	if (argc < 8) {
		fprintf(stderr, "usage: connloop HOST PORT USER PASSWORD_FILE SSLROOTCERT ROUNDS DB...\n");
		return 2;
	}
	f = fopen(argv[4], "r");
	if (f == NULL || fgets(pw, sizeof(pw), f) == NULL) {
		fprintf(stderr, "connloop: cannot read %s\n", argv[4]);
		return 2;
	}
	fclose(f);
	pw[strcspn(pw, "\r\n")] = '\0';
	rounds = atoi(argv[6]);
	start = now();
	for (i = 0; i < rounds; i++) {
		for (d = 7; d < argc; d++) {
			const char *keys[] = {"host", "port", "user", "password", "dbname", "sslmode",
			                      "sslrootcert", "application_name", NULL};
			const char *vals[] = {argv[1], argv[2], argv[3], pw, argv[d], "verify-full",
			                      argv[5], "connloop", NULL};
			PGconn *c = PQconnectdbParams(keys, vals, 0);
			PGresult *r;

			if (PQstatus(c) != CONNECTION_OK) {
				fprintf(stderr, "connloop: %s", PQerrorMessage(c));
				PQfinish(c);
				return 1;
			}
			r = PQexec(c, "SELECT pg_catalog.count(*) FROM pg_catalog.pg_namespace");
			if (PQresultStatus(r) != PGRES_TUPLES_OK) {
				fprintf(stderr, "connloop: %s", PQerrorMessage(c));
				return 1;
			}
			PQclear(r);
			PQfinish(c);
			n++;
		}
	}
	printf("%.6f\n", (now() - start) / n);
	return 0;
}
