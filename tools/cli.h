/* Shared helpers of the `prism` subcommands (tools/prism.c). Each subcommand
 * lives in tools/cmd_<name>.c as `int cmd_<name>(int argc, char **argv)`,
 * argv[0] being the subcommand name; it returns the process exit status:
 * 0 success, 1 failure (a check failed, a device error), 2 bad arguments. */
#ifndef PRISM_TOOLS_CLI_H
#define PRISM_TOOLS_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Resets getopt for a fresh parse of a subcommand's argv. */
void cli_getopt_reset(void);
/* Message for a getopt '?' or ':' return; always returns CLI_USAGE. */
int cli_bad_option(const char *cmd, int argc, char **argv, int c);
/* Strict decimal integer in [lo, hi]; prints a message naming `what` on failure. */
bool cli_parse_long(const char *cmd, const char *what, const char *s, long lo, long hi, long *out);
/* Writes s as a JSON string literal (quotes and escapes). */
void cli_json_str(FILE *f, const char *s);
/* JSON number, or null when not finite. */
void cli_json_num(FILE *f, double v);

#endif
