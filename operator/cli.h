/*
 * cli.h - the command line: run, reconcile, plan, version.
 */
#ifndef APPDB_CLI_H
#define APPDB_CLI_H

/* Runs the command named by argv; returns the process exit code. */
int cli_main(int argc, char **argv);

#endif
