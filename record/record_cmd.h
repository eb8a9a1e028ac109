/* `ttvm record`: the command. */
#ifndef TTVM_RECORD_RECORD_CMD_H
#define TTVM_RECORD_RECORD_CMD_H

/* `ttvm record -o TRACE [--checkpoint-interval SEC] [run options] KERNEL`
 * (argv[0] = "record"); returns the exit status. */
int record_main(int argc, char **argv);

#endif
