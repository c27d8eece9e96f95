/*
 * cli.c - parses the command line and runs a command.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cli_main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "version") == 0) {
		printf("appdb-operator %s (build %s)\n", APPDB_VERSION, APPDB_BUILD_ID);
		return 0;
	}
	fprintf(stderr, "usage: appdb-operator run|reconcile|plan|version\n");
	return 2;
}
