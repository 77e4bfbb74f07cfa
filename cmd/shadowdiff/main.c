/*
 * main.c - the shadowdiff command line: dispatches to one cmd_<verb>.c per subcommand.
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("shadowdiff %s\n", SDIFF_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: shadowdiff <command> [options]\n");
    return 2;
}
