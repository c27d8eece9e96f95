/*
 * awsprobe.c - a small driver of the AWS client for the integration tests
 * (tests/aws): reads secrets through aws_sm_fetch and makes RDS tokens
 * through aws_rds_token, the way the engine does, and prints what happened
 * without ever printing a value.
 *
 *   awsprobe [--region R] [--endpoint URL] [--cache S] sm ID [--key K]
 *            [--expect-file F] [--repeat N] [--sleep S]
 *   awsprobe [--region R] [--endpoint URL] [--cache S] threads N ID [--repeat M]
 *            (N threads share one client, each fetching ID M times)
 *   awsprobe [--region R] rds HOST PORT USER [REGION] --out FILE
 *
 * Each fetch prints "ok version=V match=yes|no|-" or
 * "error code=<name> retry_after=N msg=<message>". Exit 0 when every
 * fetch succeeded (and matched), 1 otherwise, 2 on usage errors.
 */
#include "aws.h"
#include "log.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads a small file into a new string without one trailing newline. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = calloc(1, 65537);
	n = buf != NULL ? fread(buf, 1, 65536, f) : 0;
	fclose(f);
	if (buf != NULL && n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return buf;
}

/* Prints usage and returns 2. */
static int usage(void)
{
	fprintf(stderr, "usage: awsprobe [--region R] [--endpoint URL] [--cache S] sm ID [--key K] "
	                "[--expect-file F] [--repeat N] [--sleep S]\n"
	                "       awsprobe [--region R] rds HOST PORT USER [REGION] --out FILE\n");
	return 2;
}

/* The sm command. */
static int cmd_sm(struct aws *aws, int argc, char **argv)
{
	struct secret_ref ref = {.kind = SECRET_AWS_SM};
	char *expect = NULL;
	int repeat = 1, sleep_s = 0, i, bad = 0;

	if (argc < 1)
		return usage();
	ref.secret_id = argv[0];
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			ref.key = argv[++i];
		else if (strcmp(argv[i], "--expect-file") == 0 && i + 1 < argc)
			expect = read_file(argv[++i]);
		else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (strcmp(argv[i], "--sleep") == 0 && i + 1 < argc)
			sleep_s = atoi(argv[++i]);
		else
			return usage();
	}
	for (i = 0; i < repeat; i++) {
		struct secret s = {0};
		struct err err = {0};
		int rc;

		if (i > 0 && sleep_s > 0)
			sleep((unsigned)sleep_s);
		rc = aws_sm_fetch(aws, &s, &ref, &err);
		if (rc == 0) {
			int match = expect != NULL ? strcmp(expect, s.value) == 0 : -1;

			printf("ok version=%s match=%s\n", s.version ? s.version : "-",
			       match < 0 ? "-"
			       : match   ? "yes"
			                 : "no");
			if (match == 0)
				bad = 1;
		} else {
			printf("error code=%s retry_after=%d msg=%s\n", err_name(rc),
			       err.retry_after, err.msg);
			bad = 1;
		}
		fflush(stdout);
		secret_clear(&s);
	}
	if (expect != NULL) {
		OPENSSL_cleanse(expect, strlen(expect));
		free(expect);
	}
	return bad;
}

struct worker {
	pthread_t t;
	struct aws *aws;
	const char *id;
	int repeat;
	int ok;
};

/* One thread of the threads command: fetches and counts successes. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct secret_ref ref = {.kind = SECRET_AWS_SM};
	int i;

	ref.secret_id = (char *)w->id;
	for (i = 0; i < w->repeat; i++) {
		struct secret s = {0};
		struct err err = {0};

		if (aws_sm_fetch(w->aws, &s, &ref, &err) == 0)
			w->ok++;
		else
			fprintf(stderr, "fetch failed: %s\n", err.msg);
		secret_clear(&s);
	}
	return NULL;
}

/* The threads command: prints "ok N/M". */
static int cmd_threads(struct aws *aws, int argc, char **argv)
{
	struct worker w[16];
	int n, repeat = 10, i, ok = 0;

	if (argc < 2)
		return usage();
	n = atoi(argv[0]);
	if (n < 1 || n > 16)
		return usage();
	if (argc >= 4 && strcmp(argv[2], "--repeat") == 0)
		repeat = atoi(argv[3]);
	for (i = 0; i < n; i++) {
		w[i] = (struct worker){.aws = aws, .id = argv[1], .repeat = repeat};
		if (pthread_create(&w[i].t, NULL, worker_main, &w[i]) != 0)
			return 1;
	}
	for (i = 0; i < n; i++) {
		pthread_join(w[i].t, NULL);
		ok += w[i].ok;
	}
	printf("ok %d/%d\n", ok, n * repeat);
	return ok == n * repeat ? 0 : 1;
}

/* The rds command: writes the token to a new file readable by the owner only. */
static int cmd_rds(struct aws *aws, int argc, char **argv)
{
	const char *out = NULL, *region = NULL;
	char *tok = NULL;
	struct err err = {0};
	FILE *f;
	int rc;

	if (argc < 3)
		return usage();
	if (argc >= 4 && strcmp(argv[3], "--out") != 0)
		region = argv[3];
	if (argc >= 5 && strcmp(argv[argc - 2], "--out") == 0)
		out = argv[argc - 1];
	if (out == NULL)
		return usage();
	rc = aws_rds_token(&tok, aws, argv[0], atoi(argv[1]), argv[2], region, &err);
	if (rc != 0) {
		printf("error code=%s msg=%s\n", err_name(rc), err.msg);
		return 1;
	}
	umask(077);
	f = fopen(out, "w");
	if (f == NULL)
		return 1;
	fputs(tok, f);
	fclose(f);
	OPENSSL_cleanse(tok, strlen(tok));
	free(tok);
	printf("ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct aws_settings s = {.secret_cache_seconds = 60};
	struct aws *aws = NULL;
	struct err err = {0};
	int i = 1, rc;

	log_configure(LOG_INFO, LOG_TEXT);
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--region") == 0)
			s.region = argv[i + 1];
		else if (strcmp(argv[i], "--endpoint") == 0)
			s.endpoint = argv[i + 1];
		else if (strcmp(argv[i], "--cache") == 0)
			s.secret_cache_seconds = atoi(argv[i + 1]);
		else
			return usage();
	}
	if (i >= argc)
		return usage();
	rc = aws_new(&aws, &s, &err);
	if (rc != 0) {
		printf("error code=%s msg=%s\n", err_name(rc), err.msg);
		return 2;
	}
	if (strcmp(argv[i], "sm") == 0)
		rc = cmd_sm(aws, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "threads") == 0)
		rc = cmd_threads(aws, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "rds") == 0)
		rc = cmd_rds(aws, argc - i - 1, argv + i + 1);
	else
		rc = usage();
	aws_free(aws);
	return rc;
}
